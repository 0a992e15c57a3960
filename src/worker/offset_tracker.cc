#include "worker/offset_tracker.h"

#include <algorithm>

namespace krond::worker {

void OffsetTracker::Started(const std::string& topic, int32_t partition, int64_t offset) {
  PartitionState& p = partitions_[{topic, partition}];
  p.in_flight.insert(offset);
  p.dropped.erase(offset);
  if (p.first_taken < 0 || offset < p.first_taken) p.first_taken = offset;
}

void OffsetTracker::Publishing(const std::string& topic, int32_t partition, int64_t offset) {
  auto it = partitions_.find({topic, partition});
  if (it == partitions_.end() || it->second.in_flight.count(offset) == 0) return;
  it->second.publishing.insert(offset);
}

bool OffsetTracker::InProgress(const std::string& topic, int32_t partition, int64_t offset) const {
  const PartitionState* p = Find(topic, partition);
  return p != nullptr && p->in_flight.count(offset) != 0;
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
  p.publishing.erase(offset);
  p.next_uncommitted = std::max(p.next_uncommitted, offset + 1);
}

Status OffsetTracker::Inherit(const kafka::TopicPartition& committed) {
  PartitionState& p = partitions_[{committed.topic, committed.partition}];
  // Back after a loss: what this worker finished counts as done, as if its last commits had
  // reached Kafka (the offsets taken and neither dropped nor still in flight).
  std::vector<std::pair<int64_t, int64_t>> own_done;
  if (p.lost) {
    int64_t from = std::max(p.first_taken, committed.offset);
    std::set<int64_t> open = p.dropped;
    open.insert(p.in_flight.begin(), p.in_flight.end());
    for (int64_t offset : open) {
      if (offset >= p.next_uncommitted) break;
      if (offset > from) own_done.emplace_back(from, offset - 1);
      from = std::max(from, offset + 1);
    }
    if (from >= 0 && from < p.next_uncommitted) own_done.emplace_back(from, p.next_uncommitted - 1);
    p.lost = false;
    p.dropped.clear();
  }
  p.committed = committed.offset;
  p.committed_metadata = committed.metadata;
  auto note = messages::DecodeCommitNote(committed.metadata, committed.offset);
  p.inherited = note ? std::move(*note) : messages::CommitNote{};
  for (const auto& [first, last] : own_done) p.inherited.done.AddRange(first, last);
  if (!note) return tl::unexpected(note.error());
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
  if (p == nullptr) return false;
  // Every run below a committed offset has finished. The consumer can still deliver one: a
  // partition lost and assigned back resumes at the group's older commit, and this worker's
  // first commit after it moves past the runs it finished while the partition was lost
  // (which also drops them from the note) before they are delivered again.
  return (p->committed >= 0 && offset < p->committed) || p->inherited.done.Contains(offset);
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
    if (p.lost) continue;  // not ours until assigned again
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

void OffsetTracker::Forget(const std::vector<kafka::TopicPartition>& partitions, bool lost) {
  for (const auto& tp : partitions) {
    auto it = partitions_.find({tp.topic, tp.partition});
    if (it == partitions_.end()) continue;
    if (!lost) {
      partitions_.erase(it);
      continue;
    }
    PartitionState& p = it->second;
    p.lost = true;
    // Held, parked and cancelled runs are redelivered and taken again; published ones end.
    for (auto o = p.in_flight.begin(); o != p.in_flight.end();) {
      if (p.publishing.count(*o) != 0) {
        ++o;
        continue;
      }
      p.dropped.insert(*o);
      p.launched.erase(*o);
      o = p.in_flight.erase(o);
    }
  }
}

size_t OffsetTracker::InFlight() const {
  size_t n = 0;
  for (const auto& [key, p] : partitions_) n += p.in_flight.size();
  return n;
}

}  // namespace krond::worker
