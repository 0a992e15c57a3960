#pragma once

#include <CLI/CLI.hpp>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "common/signals.h"
#include "http/admin_server.h"
#include "kafka/kafka.h"
#include "messages/topics.h"
#include "metrics/registry.h"

// Flags and start-up steps shared by the long-running subcommands.
namespace krond::app {

struct KafkaFlags {
  std::string brokers = "127.0.0.1:9092";
  std::string topic_prefix = "krond";
  int partitions = 2;
  int replication_factor = 1;
  std::vector<std::string> kafka_settings;  // key=value librdkafka overrides

  void Add(CLI::App& app);
  [[nodiscard]] Result<kafka::ClientConfig> Client(const std::string& client_id) const;
  messages::TopicNames Topics() const { return messages::TopicNames(topic_prefix); }
};

// The topics of `clusters`: tasks, retry and dead per cluster, plus results, the job catalog
// and the control topic.
std::vector<kafka::TopicSpec> ClusterTopics(const KafkaFlags& flags,
                                            const std::vector<std::string>& clusters);

// The scheduler's own topics: <prefix>.leader (the lease), <prefix>.state (last fire per
// job), <prefix>.skips (fires not made and why), one partition each.
std::vector<kafka::TopicSpec> SchedulerTopics(const KafkaFlags& flags);

// Creates missing topics through kafka::EnsureTopicsPatiently, retrying every 2 s while Kafka
// is unreachable, until done or a stop is requested; logs each topic. A partition-count
// mismatch or a refusal is returned at once.
[[nodiscard]] Status EnsureTopicsPatiently(const KafkaFlags& flags,
                                           const std::vector<kafka::TopicSpec>& specs,
                                           const SignalWatcher& signals);

// host:pid, the identity of this process in results and client ids.
std::string ProcessId();

// Liveness and readiness of a process's main loop, for /healthz and /readyz: live while
// starting up and then while the loop marked progress within the last 30 s (monotonic time,
// so a wall-clock step neither kills nor hides a stuck loop); ready once MarkReady was
// called. Thread-safe.
class LoopHealth {
 public:
  LoopHealth(const Clock& clock, std::string not_ready_reason)
      : clock_(clock), not_ready_reason_(std::move(not_ready_reason)) {
    MarkProgress();
  }
  void MarkProgress() { last_progress_ms_ = MonoMs(); }
  void MarkReady() { ready_ = true; }
  // Callbacks reading this object: it must outlive the admin server.
  http::AdminServerOptions Probes();

 private:
  int64_t MonoMs() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               clock_.MonoNow().time_since_epoch())
        .count();
  }
  const Clock& clock_;
  const std::string not_ready_reason_;
  std::atomic<int64_t> last_progress_ms_{0};
  std::atomic<bool> ready_{false};
};

// Registers build info and starts the admin server on `addr`, logging the bound address.
[[nodiscard]] Result<std::unique_ptr<http::AdminServer>> StartAdminServer(
    metrics::Registry& registry, const std::string& addr, http::AdminServerOptions options);

}  // namespace krond::app
