#include "worker/offset_tracker.h"

#include <algorithm>

namespace krond::worker {

void OffsetTracker::Started(const std::string& topic, int32_t partition, int64_t offset) {
  partitions_[{topic, partition}].in_flight.insert(offset);
}

void OffsetTracker::Launched(const std::string& topic, int32_t partition, int64_t offset) {
  auto it = partitions_.find({topic, partition});
  if (it == partitions_.end() || it->second.in_flight.count(offset) == 0) return;
  it->second.launched.insert(offset);
}

void OffsetTracker::Finished(const std::string& topic, int32_t partition, int64_t offset) {
  auto it = partitions_.find({topic, partition});
  if (it == partitions_.end()) return;  // forgotten by a rebalance
  PartitionState& p = it->second;
  if (p.in_flight.erase(offset) == 0) return;
  p.launched.erase(offset);
  p.next_uncommitted = std::max(p.next_uncommitted, offset + 1);
}

Status OffsetTracker::Inherit(const kafka::TopicPartition& committed) {
  PartitionState& p = partitions_[{committed.topic, committed.partition}];
  p.committed = committed.offset;
  p.committed_metadata = committed.metadata;
  auto note = messages::DecodeCommitNote(committed.metadata, committed.offset);
  if (!note) {
    p.inherited = {};
    return tl::unexpected(note.error());
  }
  p.inherited = std::move(*note);
  return {};
}

const OffsetTracker::PartitionState* OffsetTracker::Find(const std::string& topic,
                                                         int32_t partition) const {
  auto it = partitions_.find({topic, partition});
  return it == partitions_.end() ? nullptr : &it->second;
}

bool OffsetTracker::StartedBefore(const std::string& topic, int32_t partition,
                                  int64_t offset) const {
  const PartitionState* p = Find(topic, partition);
  return p != nullptr && p->inherited.started.Contains(offset);
}

bool OffsetTracker::FinishedBefore(const std::string& topic, int32_t partition,
                                   int64_t offset) const {
  const PartitionState* p = Find(topic, partition);
  return p != nullptr && p->inherited.done.Contains(offset);
}

messages::CommitNote OffsetTracker::NoteOf(PartitionState& p, int64_t committable) {
  p.inherited.started.EraseBelow(committable);
  p.inherited.done.EraseBelow(committable);
  messages::CommitNote note = p.inherited;
  for (int64_t offset : p.launched) note.started.Add(offset);
  // Every offset taken below next_uncommitted that is not in flight has finished (offsets
  // never taken there are gaps in the log, e.g. transaction markers: never delivered).
  int64_t from = committable;
  for (int64_t offset : p.in_flight) {
    if (offset > from) note.done.AddRange(from, std::min(offset, p.next_uncommitted) - 1);
    from = std::max(from, offset + 1);
    if (from >= p.next_uncommitted) break;
  }
  if (from < p.next_uncommitted) note.done.AddRange(from, p.next_uncommitted - 1);
  return note;
}

OffsetTracker::Commits OffsetTracker::TakeCommittable() {
  Commits out;
  for (auto& [key, p] : partitions_) {
    const int64_t committable = p.in_flight.empty() ? p.next_uncommitted : *p.in_flight.begin();
    if (committable < 0 || committable < p.committed) continue;  // nothing taken yet
    bool truncated = false;
    std::string metadata = messages::EncodeCommitNote(NoteOf(p, committable), committable,
                                                      kafka::kMaxCommitMetadataBytes, &truncated);
    if (committable == p.committed && metadata == p.committed_metadata) continue;
    if (truncated) ++out.truncated;
    p.committed = committable;
    p.committed_metadata = metadata;
    out.offsets.push_back({key.first, key.second, committable, std::move(metadata)});
  }
  return out;
}

void OffsetTracker::Forget(const std::vector<kafka::TopicPartition>& partitions) {
  for (const auto& tp : partitions) partitions_.erase({tp.topic, tp.partition});
}

size_t OffsetTracker::InFlight() const {
  size_t n = 0;
  for (const auto& [key, p] : partitions_) n += p.in_flight.size();
  return n;
}

}  // namespace krond::worker
