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
#include "messages/signed_task.h"
#include "messages/topics.h"
#include "metrics/registry.h"
#include "signing/ed25519.h"

// Flags and start-up steps shared by the long-running subcommands.
namespace krond::app {

struct KafkaFlags {
  std::string brokers = "127.0.0.1:9092";
  std::string topic_prefix = "krond";
  int partitions = 2;
  int replication_factor = 1;
  // A client properties file (librdkafka names, key=value lines; docs/security.md).
  std::string kafka_config;
  std::vector<std::string> kafka_settings;  // key=value librdkafka overrides, after the file

  void Add(CLI::App& app);
  // The settings of every Kafka client of this process: the file, then --kafka-setting, with
  // ${env:...} and ${file:...} references resolved; checked by librdkafka (unknown names,
  // invalid values) and against krond's guarantees. A secret written literally on the
  // command line is refused. Clients made from it count refusals in the metric that
  // StartAdminServer registers.
  [[nodiscard]] Result<kafka::ClientConfig> Client(const std::string& client_id) const;
  messages::TopicNames Topics() const { return messages::TopicNames(topic_prefix); }
};

// The clusters of an operator command: those given with --cluster plus the job file's
// (`jobs`, when not empty). On an unreadable job file (its problems printed) or no cluster
// at all (a usage line naming `command` printed), the exit code to return instead.
tl::expected<std::vector<std::string>, int> CommandClusters(const std::string& command,
                                                            const std::string& jobs,
                                                            std::vector<std::string> clusters);

// An operator command's admin client, with the user's settings; on failure (the error
// printed to stderr) the exit code to return: 2 for bad settings, 1 otherwise.
tl::expected<std::unique_ptr<kafka::Admin>, int> CommandAdmin(const KafkaFlags& flags,
                                                              const std::string& client_id);

// The topics of `clusters`: tasks, retry and dead per cluster, plus results, the job catalog
// and the control topic.
std::vector<kafka::TopicSpec> ClusterTopics(const KafkaFlags& flags,
                                            const std::vector<std::string>& clusters);

// The workers' <prefix>.clock: one partition, LogAppendTime, an hour of retention
// (worker/clock_probe.h). Ensured by `krond topics ensure` and by each worker at start; the
// scheduler and the console never use it.
kafka::TopicSpec ClockTopic(const KafkaFlags& flags);

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

// Signed tasks (docs/security.md): the keys of every --task-public-keys file (logged by id),
// and the signer of a --task-signing-key (one that does not sign when `path` is empty).
// Errors name the file and line.
[[nodiscard]] Result<std::vector<signing::PublicKey>> LoadTrustedKeys(
    const std::vector<std::string>& files);
[[nodiscard]] Result<messages::TaskSigner> LoadTaskSigner(const std::string& path);

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

// Registers build info and krond_kafka_refusals_total{kind} (every Kafka client the process
// makes afterwards reports to it), and starts the admin server on `addr`, logging the bound
// address. An address that is not loopback is logged as a warning: /metrics tells job names
// and outcomes to whoever can reach it (docs/security.md).
[[nodiscard]] Result<std::unique_ptr<http::AdminServer>> StartAdminServer(
    metrics::Registry& registry, const std::string& addr, http::AdminServerOptions options);

}  // namespace krond::app
