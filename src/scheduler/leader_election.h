#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "kafka/kafka.h"

namespace krond::scheduler {

// Leadership by consumer-group membership: every scheduler replica joins one group on a
// one-partition topic (<prefix>.leader), and the member the group assigns partition 0 is the
// leader. When the leader dies, its session times out (session.timeout.ms, 6 s) and the
// group hands the partition to a standby; a clean stop hands it over at once.
//
// Being assigned the partition is necessary, not sufficient, for firing: a replica that was
// cut off may still believe it is assigned. Fencing by the transactional producer (see
// HaScheduler) is what makes a stale leader harmless.
//
// Not thread-safe: Poll it from the scheduler's loop (the rebalance callbacks run there).
class LeaderElector final : public kafka::RebalanceListener {
 public:
  // `consumer` must have been created with this object as its RebalanceListener; it is
  // subscribed to `topic` here.
  LeaderElector(kafka::Consumer& consumer, std::string topic);

  [[nodiscard]] Status Start();
  // Serves the group protocol for up to `timeout`; returns whether this replica leads.
  bool Poll(std::chrono::milliseconds timeout);
  bool leader() const { return leader_; }
  // Times leadership was gained or lost.
  uint64_t changes() const { return changes_; }
  // Leaves the group so a standby takes over at once.
  void Close();

  void OnAssigned(const std::vector<kafka::TopicPartition>& partitions) override;
  void OnRevoked(const std::vector<kafka::TopicPartition>& partitions) override;

 private:
  kafka::Consumer& consumer_;
  std::string topic_;
  bool leader_ = false;
  uint64_t changes_ = 0;
};

}  // namespace krond::scheduler
