#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "kafka/kafka.h"

namespace krond::worker {

// Which offsets a worker may commit when runs finish out of order.
//
// A partition's committable offset is its lowest unfinished offset, or one past the highest
// finished offset when nothing is in flight: committing it can never skip an unfinished
// run, so a crash redelivers exactly the runs that had not finished (and perhaps some that
// had, after the last commit). Pure logic, not thread-safe.
class OffsetTracker {
 public:
  // A message was taken for processing.
  void Started(const std::string& topic, int32_t partition, int64_t offset);
  // Its processing is complete (result durable); it may now be committed past.
  void Finished(const std::string& topic, int32_t partition, int64_t offset);
  // Next-offsets that advanced since the last call, to pass to Consumer::Commit.
  std::vector<kafka::TopicPartition> TakeCommittable();
  // Partitions taken away by a rebalance: forget them (their unfinished runs will be
  // redelivered to the new owner).
  void Forget(const std::vector<kafka::TopicPartition>& partitions);
  size_t InFlight() const;

 private:
  struct PartitionState {
    std::set<int64_t> in_flight;
    int64_t next_uncommitted = -1;  // one past the highest finished offset
    int64_t committed = -1;
  };
  std::map<std::pair<std::string, int32_t>, PartitionState> partitions_;
};

}  // namespace krond::worker
