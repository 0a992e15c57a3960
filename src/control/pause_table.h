#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "common/result.h"
#include "kafka/kafka.h"

// The control plane's records as state (docs/control.md): the one reader of pause and resume
// records of <prefix>.control (key = job name), shared by the scheduler, which skips the fires
// of paused jobs, and the worker, which cancels runs it holds for a paused job.
namespace krond::control {

// Whether a record is newer than every record already applied from its partition. The
// control-plane topics are compacted and read again from their start (by a consumer that
// never commits, after a rebalance): a record at or before one already applied must not take
// a job back in time. Not thread-safe.
class PartitionOrder {
 public:
  // True, and remembers its offset, when `record` comes after every record seen of its topic
  // and partition; false for a record at or before one of them.
  bool Advance(const kafka::ConsumedMessage& record);

 private:
  std::map<std::pair<std::string, int32_t>, int64_t> last_;  // partition -> last offset
};

// Which jobs are paused. Records are states, not toggles: the latest record of a job wins,
// and a record at or before one already applied (same partition) is ignored. Not
// thread-safe: the owner serializes calls.
class PauseTable {
 public:
  // Applies one record of the control topic; an empty value (tombstone) resumes the job of
  // its key. Errors for an undecodable record, which changes nothing (the caller logs it).
  [[nodiscard]] Status Apply(const kafka::ConsumedMessage& record);
  bool Paused(std::string_view job) const;
  size_t paused_count() const { return paused_.size(); }

 private:
  std::unordered_map<std::string, std::string> paused_;  // job -> who paused it
  PartitionOrder order_;
};

}  // namespace krond::control
