#include "worker/offset_tracker.h"

#include <algorithm>

namespace krond::worker {

void OffsetTracker::Started(const std::string& topic, int32_t partition, int64_t offset) {
  partitions_[{topic, partition}].in_flight.insert(offset);
}

void OffsetTracker::Finished(const std::string& topic, int32_t partition, int64_t offset) {
  auto it = partitions_.find({topic, partition});
  if (it == partitions_.end()) return;  // forgotten by a rebalance
  PartitionState& p = it->second;
  if (p.in_flight.erase(offset) == 0) return;
  p.next_uncommitted = std::max(p.next_uncommitted, offset + 1);
}

std::vector<kafka::TopicPartition> OffsetTracker::TakeCommittable() {
  std::vector<kafka::TopicPartition> out;
  for (auto& [key, p] : partitions_) {
    const int64_t committable = p.in_flight.empty() ? p.next_uncommitted : *p.in_flight.begin();
    if (committable > p.committed) {
      p.committed = committable;
      out.push_back({key.first, key.second, committable});
    }
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
