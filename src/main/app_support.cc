#include "main/app_support.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "config/job_file.h"
#include "kafka/client_settings.h"
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
  app.add_option("--kafka-config", kafka_config,
                 "Client properties file (librdkafka names, key=value per line): "
                 "security.protocol, sasl.*, ssl.*; secrets as ${file:PATH} or ${env:NAME} "
                 "(docs/security.md)")
      ->envname("KROND_KAFKA_CONFIG")
      ->check(CLI::ExistingFile);
  app.add_option("--kafka-setting", kafka_settings,
                 "Extra librdkafka property key=value (repeatable, after --kafka-config), e.g. "
                 "linger.ms=1");
}

namespace {

// The process's krond_kafka_refusals_total, once StartAdminServer registered it.
std::atomic<metrics::Family<metrics::Counter>*> refusal_counter{nullptr};

void CountRefusal(kafka::Refusal refusal) {
  if (auto* family = refusal_counter.load()) {
    family->WithLabels({std::string(kafka::RefusalName(refusal))}).Inc();
  }
}

// The --kafka-config file's settings; warns when it holds a literal secret that other users
// may read.
Result<std::vector<kafka::UserSetting>> ReadKafkaConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError("--kafka-config " + path + ": cannot read it");
  std::ostringstream text;
  text << in.rdbuf();
  auto settings = kafka::ParseClientProperties(text.str(), path);
  if (!settings) return settings;
  struct stat st {};
  const bool shared = stat(path.c_str(), &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH)) != 0;
  for (const auto& s : *settings) {
    if (shared && kafka::IsSecretProperty(s.key) && !kafka::IsReference(s.value)) {
      spdlog::warn(
          "{}: {} is written in a file other users can read; chmod 600 it, or refer "
          "to a secret file with ${{file:PATH}}",
          s.origin, s.key);
    }
  }
  return settings;
}

}  // namespace

Result<kafka::ClientConfig> KafkaFlags::Client(const std::string& client_id) const {
  kafka::ClientConfig config;
  config.brokers = brokers;
  config.client_id = client_id;
  config.on_refused = CountRefusal;
  std::vector<kafka::UserSetting> settings;
  if (!kafka_config.empty()) {
    auto from_file = ReadKafkaConfig(kafka_config);
    if (!from_file) return tl::unexpected(from_file.error());
    settings = std::move(*from_file);
  }
  for (const auto& kv : kafka_settings) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      return MakeError("--kafka-setting: expected key=value (the value is not shown)");
    }
    kafka::UserSetting setting{kv.substr(0, eq), kv.substr(eq + 1), "--kafka-setting"};
    if (kafka::IsSecretProperty(setting.key) && !kafka::IsReference(setting.value)) {
      return MakeError("--kafka-setting " + setting.key +
                       ": a secret on the command line can be read by every process on the "
                       "host (ps, /proc/PID/cmdline); put it in --kafka-config FILE or give "
                       "${file:PATH} or ${env:NAME}");
    }
    settings.push_back(std::move(setting));
  }
  for (const auto& setting : settings) {
    auto value = kafka::ResolveReference(setting);
    if (!value) return tl::unexpected(value.error());
    config.overrides[setting.key] = std::move(*value);
    config.origins[setting.key] = setting.origin;
  }
  if (auto ok = kafka::CheckClientConfig(config); !ok) return tl::unexpected(ok.error());
  return config;
}

tl::expected<std::vector<std::string>, int> CommandClusters(const std::string& command,
                                                            const std::string& jobs,
                                                            std::vector<std::string> clusters) {
  if (!jobs.empty()) {
    auto file = config::LoadJobFile(jobs);
    if (!file) {
      for (const auto& p : file.error()) std::cerr << p.ToString() << "\n";
      return tl::unexpected(1);
    }
    clusters.insert(clusters.end(), file->clusters.begin(), file->clusters.end());
  }
  if (clusters.empty()) {
    std::cerr << command << ": name clusters with --jobs FILE or --cluster NAME\n";
    return tl::unexpected(2);
  }
  return clusters;
}

tl::expected<std::unique_ptr<kafka::Admin>, int> CommandAdmin(const KafkaFlags& flags,
                                                              const std::string& client_id) {
  auto config = flags.Client(client_id);
  if (!config) {
    std::cerr << config.error().message << "\n";
    return tl::unexpected(2);
  }
  auto admin = kafka::NewRdKafkaAdmin(*config);
  if (!admin) {
    std::cerr << admin.error().message << "\n";
    return tl::unexpected(1);
  }
  return std::move(*admin);
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

kafka::TopicSpec ClockTopic(const KafkaFlags& flags) {
  // The broker stamps each probe with its own time (LogAppendTime); probes are worth
  // nothing after their round, so an hour of them is plenty (segments roll every 10 minutes
  // so that retention can delete them).
  return {flags.Topics().Clock(),
          1,
          flags.replication_factor,
          {{"message.timestamp.type", "LogAppendTime"},
           {"retention.ms", "3600000"},
           {"segment.ms", "600000"}}};
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
  auto& refusals = registry.AddCounter(
      "krond_kafka_refusals_total",
      "Times Kafka refused a client of this process: authentication (credentials, TLS trust) "
      "or authorization (a missing ACL).",
      {"kind"});
  for (auto kind : {kafka::Refusal::kAuthentication, kafka::Refusal::kAuthorization}) {
    refusals.WithLabels({std::string(kafka::RefusalName(kind))});
  }
  refusal_counter = &refusals;
  auto server = std::make_unique<http::AdminServer>(registry, std::move(options));
  auto port = server->Start(addr);
  if (!port) return tl::unexpected(port.error());
  const std::string host = addr.substr(0, addr.rfind(':'));
  if (host == "127.0.0.1" || host == "localhost" || host == "[::1]" || host == "::1") {
    spdlog::info("serving /metrics /healthz /readyz on http://{}:{}", host, *port);
  } else {
    spdlog::warn(
        "serving /metrics /healthz /readyz on http://{}:{}, not loopback: anyone who can reach "
        "it sees job names, clusters and outcomes (docs/security.md)",
        host, *port);
  }
  return server;
}

Result<std::vector<signing::PublicKey>> LoadTrustedKeys(const std::vector<std::string>& files) {
  std::vector<signing::PublicKey> all;
  for (const auto& file : files) {
    auto keys = signing::LoadPublicKeys(file);
    if (!keys) return tl::unexpected(keys.error());
    for (const auto& key : *keys) {
      spdlog::info("trusting tasks signed by key {} ({})", key.Id(), file);
      all.push_back(key);
    }
  }
  return all;
}

Result<messages::TaskSigner> LoadTaskSigner(const std::string& path) {
  if (path.empty()) return messages::TaskSigner();
  auto key = signing::LoadPrivateKey(path);
  if (!key) return tl::unexpected(key.error());
  spdlog::info("signing tasks with key {} ({})", key->public_key.Id(), path);
  return messages::TaskSigner(std::move(*key));
}

}  // namespace krond::app
