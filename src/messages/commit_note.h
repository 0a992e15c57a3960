#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"

namespace krond::messages {

// A set of Kafka offsets as sorted, disjoint, non-adjacent closed ranges [first, last]:
// compact for the runs of consecutive offsets a worker holds.
class OffsetRanges {
 public:
  void Add(int64_t offset) { AddRange(offset, offset); }
  // Requires: first <= last.
  void AddRange(int64_t first, int64_t last);
  bool Contains(int64_t offset) const;
  // Drops every offset below `offset`.
  void EraseBelow(int64_t offset);
  bool empty() const { return ranges_.empty(); }
  const std::vector<std::pair<int64_t, int64_t>>& ranges() const { return ranges_; }
  bool operator==(const OffsetRanges&) const = default;

 private:
  std::vector<std::pair<int64_t, int64_t>> ranges_;
};

// What a worker stores in the metadata of each offset commit of a task or retry partition
// (docs/messages.md, "Commit metadata"), for the partition's next owner: of the offsets at
// or past the committed one, which runs it had started (run again, but exempt from
// starting_deadline: they did start in time) and which it had finished (result, retry or
// dead letter acknowledged: not run again).
struct CommitNote {
  OffsetRanges started;
  OffsetRanges done;
  bool empty() const { return started.empty() && done.empty(); }
  bool operator==(const CommitNote&) const = default;
};

// `{"v":1,"started":[0,[2,5]],"done":[1]}`: offsets relative to `committed` (the commit's
// offset); offsets below it are left out, and an empty note is "". When the text would be
// longer than `max_bytes`, the highest offsets of each list are left out until it fits
// (started ones last) and `*truncated` is set: the next owner then treats those runs as
// never taken.
std::string EncodeCommitNote(const CommitNote& note, int64_t committed, size_t max_bytes,
                             bool* truncated = nullptr);
// The note of a commit at offset `committed`; "" is an empty note. Metadata that krond did
// not write (or a newer version it cannot read) is an error naming the problem.
[[nodiscard]] Result<CommitNote> DecodeCommitNote(std::string_view metadata, int64_t committed);

}  // namespace krond::messages
