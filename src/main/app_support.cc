#include "main/app_support.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <thread>

#include "kafka/rdkafka_client.h"

namespace krond::app {

void KafkaFlags::Add(CLI::App& app) {
  app.add_option("--brokers", brokers, "Kafka bootstrap servers, host:port[,host:port...]")
      ->envname("KROND_BROKERS")
      ->capture_default_str();
  app.add_option("--topic-prefix", topic_prefix, "Prefix of every topic name")
      ->envname("KROND_TOPIC_PREFIX")
      ->capture_default_str();
  app.add_option("--partitions", partitions, "Partitions of each task/retry topic created")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--replication-factor", replication_factor, "Replicas of each topic created")
      ->check(CLI::Range(1, 10))
      ->capture_default_str();
  app.add_option("--kafka-setting", kafka_settings,
                 "Extra librdkafka property key=value (repeatable), e.g. linger.ms=1");
}

Result<kafka::ClientConfig> KafkaFlags::Client(const std::string& client_id) const {
  kafka::ClientConfig config;
  config.brokers = brokers;
  config.client_id = client_id;
  for (const auto& kv : kafka_settings) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      return MakeError("--kafka-setting \"" + kv + "\": expected key=value");
    }
    config.overrides[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  if (auto ok = config.Validate(); !ok) return tl::unexpected(ok.error());
  return config;
}

std::vector<kafka::TopicSpec> ClusterTopics(const KafkaFlags& flags,
                                            const std::vector<std::string>& clusters) {
  const messages::TopicNames names = flags.Topics();
  std::vector<kafka::TopicSpec> specs;
  const std::map<std::string, std::string> durable = {
      {"min.insync.replicas", flags.replication_factor >= 3 ? "2" : "1"}};
  for (const auto& cluster : clusters) {
    for (const std::string& name :
         {names.Tasks(cluster), names.Retry(cluster), names.Dead(cluster)}) {
      specs.push_back({name, flags.partitions, flags.replication_factor, durable});
    }
  }
  specs.push_back({names.Results(), flags.partitions, flags.replication_factor, durable});
  // The control plane's compacted topics (docs/control.md), one partition each so every
  // reader sees one order. Control records are also the pause/resume audit trail:
  // compaction keeps them a week before only each job's latest remains.
  std::map<std::string, std::string> compacted = durable;
  compacted["cleanup.policy"] = "compact";
  specs.push_back({names.Jobs(), 1, flags.replication_factor, compacted});
  compacted["min.compaction.lag.ms"] = "604800000";
  specs.push_back({names.Control(), 1, flags.replication_factor, compacted});
  return specs;
}

std::vector<kafka::TopicSpec> SchedulerTopics(const KafkaFlags& flags) {
  const messages::TopicNames names = flags.Topics();
  const std::string min_isr = flags.replication_factor >= 3 ? "2" : "1";
  // Compacted: only each key's latest record matters (a job's last fire, the lease). Segments
  // roll hourly so the cleaner can compact them: a takeover reads the whole state topic.
  const std::map<std::string, std::string> compacted = {
      {"cleanup.policy", "compact"}, {"segment.ms", "3600000"}, {"min.insync.replicas", min_isr}};
  return {
      {names.Leader(), 1, flags.replication_factor, compacted},
      {names.State(), 1, flags.replication_factor, compacted},
      // What was not fired and why, for `krond audit`; kept as long as a week of tasks.
      {names.Skips(),
       1,
       flags.replication_factor,
       {{"retention.ms", "604800000"}, {"min.insync.replicas", min_isr}}},
  };
}

Status EnsureTopicsPatiently(const KafkaFlags& flags, const std::vector<kafka::TopicSpec>& specs,
                             const SignalWatcher& signals) {
  auto config = flags.Client("krond-admin-" + ProcessId());
  if (!config) return tl::unexpected(config.error());
  auto admin = kafka::NewRdKafkaAdmin(*config);
  if (!admin) return tl::unexpected(admin.error());
  auto wait = [&signals](std::chrono::milliseconds delay) {
    for (auto waited = std::chrono::milliseconds(0); waited < delay && !signals.stop_requested();
         waited += std::chrono::milliseconds(100)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return !signals.stop_requested();
  };
  auto reports = kafka::EnsureTopicsPatiently(**admin, specs, wait, std::chrono::seconds(5),
                                              std::chrono::seconds(2));
  if (!reports) return MakeError(reports.error().message);
  for (const auto& r : *reports) {
    spdlog::info("topic {} {} ({} partitions)", r.topic,
                 r.outcome == kafka::EnsureOutcome::kCreated ? "created" : "exists", r.partitions);
  }
  return {};
}

http::AdminServerOptions LoopHealth::Probes() {
  http::AdminServerOptions options;
  options.liveness = [this]() -> Status {
    // Waiting for Kafka at start-up is not a stuck loop: restarting would not help.
    if (!ready_.load()) return {};
    const int64_t idle = MonoMs() - last_progress_ms_.load();
    if (idle > 30'000) return MakeError("main loop stuck for " + std::to_string(idle) + "ms");
    return {};
  };
  options.readiness = [this]() -> Status {
    if (!ready_.load()) return MakeError(not_ready_reason_);
    return {};
  };
  return options;
}

std::string ProcessId() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return std::string(host) + ":" + std::to_string(getpid());
}

Result<std::unique_ptr<http::AdminServer>> StartAdminServer(metrics::Registry& registry,
                                                            const std::string& addr,
                                                            http::AdminServerOptions options) {
  registry.AddBuildInfo({{"version", KROND_VERSION}});
  auto server = std::make_unique<http::AdminServer>(registry, std::move(options));
  auto port = server->Start(addr);
  if (!port) return tl::unexpected(port.error());
  const std::string host = addr.substr(0, addr.rfind(':'));
  spdlog::info("serving /metrics /healthz /readyz on http://{}:{}", host, *port);
  return server;
}

}  // namespace krond::app
