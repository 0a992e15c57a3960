#pragma once

#include <string>
#include <string_view>

namespace krond::messages {

// Which worker queue a run travels on: first attempts or retries.
enum class Queue { kMain, kRetry };
std::string_view QueueName(Queue q);  // "main" | "retry"

// Topic names derive from one prefix (default "krond") so tests and tenants can share a
// broker: <prefix>.tasks.<cluster>, <prefix>.retry.<cluster>, <prefix>.dead.<cluster>,
// <prefix>.results, the scheduler's <prefix>.state, <prefix>.leader, <prefix>.skips, the
// control plane's <prefix>.jobs (the job catalog) and <prefix>.control (pause and resume), and
// the workers' <prefix>.clock (clock offset probes).
class TopicNames {
 public:
  explicit TopicNames(std::string prefix = "krond") : prefix_(std::move(prefix)) {}

  std::string Tasks(std::string_view cluster) const { return Join("tasks", cluster); }
  std::string Retry(std::string_view cluster) const { return Join("retry", cluster); }
  std::string Dead(std::string_view cluster) const { return Join("dead", cluster); }
  std::string ForQueue(Queue q, std::string_view cluster) const {
    return q == Queue::kMain ? Tasks(cluster) : Retry(cluster);
  }
  std::string Results() const { return prefix_ + ".results"; }
  std::string State() const { return prefix_ + ".state"; }
  std::string Leader() const { return prefix_ + ".leader"; }
  std::string Skips() const { return prefix_ + ".skips"; }
  // Compacted, key = job name: each job's definition as the active scheduler published it.
  std::string Jobs() const { return prefix_ + ".jobs"; }
  // Compacted, key = job name: pause and resume requests (docs/control.md).
  std::string Control() const { return prefix_ + ".control"; }
  // One partition, message.timestamp.type=LogAppendTime, short retention: each worker writes
  // probe records and reads them back to estimate its clock offset from the broker's
  // (worker/clock_probe.h).
  std::string Clock() const { return prefix_ + ".clock"; }
  // Shared by every scheduler replica: a new active scheduler fences the old one.
  std::string SchedulerTransactionalId() const { return prefix_ + ".scheduler"; }
  // Consumer group of the workers serving one queue of one cluster.
  std::string WorkerGroup(Queue q, std::string_view cluster) const {
    return prefix_ + ".workers." + std::string(QueueName(q)) + "." + std::string(cluster);
  }
  // Consumer groups of one process or database each, which follow a topic rather than share
  // it; an ACL grants them by prefix. `krond console`: one group per database.
  std::string ConsoleGroupPrefix() const { return prefix_ + ".console."; }
  std::string ConsoleGroup(std::string_view database_id) const {
    return ConsoleGroupPrefix() + std::string(database_id);
  }
  // Each scheduler replica follows the control topic (pause and resume) in a group of its own.
  std::string SchedulerControlGroupPrefix() const { return prefix_ + ".scheduler-control."; }
  std::string SchedulerControlGroup(std::string_view process_id) const {
    return SchedulerControlGroupPrefix() + std::string(process_id);
  }
  // Each worker process follows the control and catalog topics (its run gate, which cancels
  // held runs of paused and removed jobs) in a group of its own.
  std::string WorkerControlGroupPrefix() const { return prefix_ + ".worker-control."; }
  std::string WorkerControlGroup(std::string_view process_id) const {
    return WorkerControlGroupPrefix() + std::string(process_id);
  }
  const std::string& prefix() const { return prefix_; }

 private:
  std::string Join(std::string_view kind, std::string_view cluster) const {
    return prefix_ + "." + std::string(kind) + "." + std::string(cluster);
  }
  std::string prefix_;
};

}  // namespace krond::messages
