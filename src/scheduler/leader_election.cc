#include "scheduler/leader_election.h"

#include <spdlog/spdlog.h>

namespace krond::scheduler {

LeaderElector::LeaderElector(kafka::Consumer& consumer, std::string topic)
    : consumer_(consumer), topic_(std::move(topic)) {}

Status LeaderElector::Start() { return consumer_.Subscribe({topic_}); }

bool LeaderElector::Poll(std::chrono::milliseconds timeout) {
  auto polled = consumer_.Poll(timeout);
  // The leader topic carries no messages; errors (broker down) are logged by the client and
  // the group protocol recovers by itself.
  if (!polled) spdlog::debug("leader election poll: {}", polled.error().message);
  return leader_;
}

void LeaderElector::Close() { consumer_.Close(); }

void LeaderElector::OnAssigned(const std::vector<kafka::TopicPartition>& partitions) {
  for (const auto& tp : partitions) {
    if (tp.topic == topic_ && tp.partition == 0 && !leader_) {
      leader_ = true;
      ++changes_;
      spdlog::info("leader election: this replica now leads ({} partition 0 assigned)", topic_);
    }
  }
}

void LeaderElector::OnRevoked(const std::vector<kafka::TopicPartition>& partitions) {
  for (const auto& tp : partitions) {
    if (tp.topic == topic_ && tp.partition == 0 && leader_) {
      leader_ = false;
      ++changes_;
      spdlog::warn("leader election: leadership lost ({} partition 0 revoked)", topic_);
    }
  }
}

}  // namespace krond::scheduler
