// `krond scheduler`: fires every due run of a job file into Kafka, exactly once, with any
// number of replicas (scheduler::SchedulerService; docs/architecture.md).
#include <malloc.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <future>
#include <optional>
#include <random>
#include <set>
#include <thread>
#include <tuple>

#include "audit/periodic_audit.h"
#include "common/clock.h"
#include "common/duration.h"
#include "common/signals.h"
#include "config/job_file.h"
#include "kafka/rdkafka_client.h"
#include "main/app_support.h"
#include "main/command.h"
#include "scheduler/job_catalog.h"
#include "scheduler/pause_set.h"
#include "scheduler/scheduler_service.h"

namespace krond::app {
namespace {

struct SchedulerFlags {
  std::string jobs;
  std::string metrics_addr = "127.0.0.1:0";
  bool ha = false;  // deprecated: every scheduler is highly available now
  std::string lease_timeout = "2500ms";
  std::string heartbeat_interval = "500ms";
  std::string shutdown_timeout = "5s";
  std::string audit_interval = "5m";
  std::string dispatch_ahead = "2s";
  std::string task_signing_key;
  KafkaFlags kafka;
};

// The job file's modification time, to notice edits without SIGHUP.
int64_t ModifiedNs(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return -1;
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

void LogProblems(const std::vector<config::Problem>& problems) {
  for (const auto& p : problems) spdlog::error("{}", p.ToString());
}

// Hands what a load or a replaced job set freed back to the OS. Since the loader streams the
// job file (one job's tree at a time) a first load leaves little (no measurable difference
// at a million jobs), but a reload frees a whole job set: without this a scheduler held
// 374 MB instead of 327 MB after reloading a million jobs (docs/benchmarks.md, "One million
// schedules"). It costs milliseconds per load.
void ReleaseFreedMemory() { malloc_trim(0); }

// Every reload path: returns the new file, or nullopt (logged, counted) to keep the old one.
std::optional<config::JobFile> Reload(const SchedulerFlags& flags, const SignalWatcher& signals,
                                      scheduler::SchedulerMetrics& metrics, size_t running) {
  auto reloaded = config::LoadJobFile(flags.jobs);
  if (!reloaded) {
    LogProblems(reloaded.error());
    spdlog::error("reload of {} rejected: {} problem(s); still running the previous {} job(s)",
                  flags.jobs, reloaded.error().size(), running);
    metrics.reloads.WithLabels({"failed"}).Inc();
    return std::nullopt;
  }
  if (auto ok = EnsureTopicsPatiently(flags.kafka, ClusterTopics(flags.kafka, reloaded->clusters),
                                      signals);
      !ok) {
    spdlog::error("reload of {} rejected: {}", flags.jobs, ok.error().message);
    metrics.reloads.WithLabels({"failed"}).Inc();
    return std::nullopt;
  }
  metrics.reloads.WithLabels({"ok"}).Inc();
  return std::move(*reloaded);
}

// --audit-interval: "0" turns the periodic audit off (ParseDuration takes only positive
// durations), anything else must be one.
Result<std::chrono::milliseconds> ParseAuditInterval(const std::string& text) {
  if (text == "0" || text == "0s") return std::chrono::milliseconds(0);
  return ParseDuration(text);
}

// --dispatch-ahead: 0 publishes at the instant, anything else is a duration up to
// config::kMaxDispatchAhead.
Result<std::chrono::milliseconds> ParseDispatchAhead(const std::string& text) {
  if (text == "0" || text == "0s" || text == "0ms") return std::chrono::milliseconds(0);
  auto parsed = ParseDuration(text);
  if (parsed && *parsed > config::kMaxDispatchAhead) {
    return MakeError("\"" + text + "\": at most " + FormatDuration(config::kMaxDispatchAhead));
  }
  return parsed;
}

// The service's options from the flags, or nullopt after logging a usage error.
std::optional<scheduler::ServiceOptions> Options(const SchedulerFlags& flags) {
  scheduler::ServiceOptions options;
  for (auto [flag, text, out] :
       {std::tuple{"--lease-timeout", &flags.lease_timeout, &options.lease.timeout},
        std::tuple{"--heartbeat-interval", &flags.heartbeat_interval,
                   &options.lease.heartbeat_interval}}) {
    auto parsed = ParseDuration(*text);
    if (!parsed) {
      spdlog::error("{} {}", flag, parsed.error().message);
      return std::nullopt;
    }
    *out = *parsed;
  }
  if (auto ahead = ParseDispatchAhead(flags.dispatch_ahead)) {
    options.dispatch_ahead = *ahead;
  } else {
    spdlog::error("--dispatch-ahead {}", ahead.error().message);
    return std::nullopt;
  }
  if (auto ok = options.lease.Validate(); !ok) {
    spdlog::error("--lease-timeout/--heartbeat-interval: {}", ok.error().message);
    return std::nullopt;
  }
  std::random_device random;
  options.seed = (uint64_t{random()} << 32) | random();
  // Unique per process, also across restarts with a reused pid.
  options.owner = ProcessId() + ":" + std::to_string(options.seed % 0x1000000);
  return options;
}

// The scheduler's side of the control plane (docs/control.md): the pauses read from the
// control topic, and the job catalog it publishes while active. Built once per process.
struct ControlPlane {
  scheduler::PauseSet pauses;
  std::unique_ptr<kafka::Consumer> consumer;
  std::unique_ptr<scheduler::ControlFeed> feed;
  // Not the firing producer: that one is transactional and belongs to the service.
  std::unique_ptr<kafka::Producer> producer;
  std::unique_ptr<scheduler::CatalogPublisher> catalog;

  void Poll() {
    feed->Poll();
    catalog->Poll();
  }
};

// Reads the control topic to its end before the first fire (so a paused job never fires
// at start), then follows it with a consumer of a group of its own that never commits.
Result<std::unique_ptr<ControlPlane>> StartControlPlane(const KafkaFlags& flags,
                                                        const SignalWatcher& signals,
                                                        scheduler::SchedulerMetrics& metrics,
                                                        const Clock& clock) {
  auto plane = std::make_unique<ControlPlane>();
  const messages::TopicNames names = flags.Topics();
  auto client = flags.Client("krond-scheduler-control-" + ProcessId());
  if (!client) return tl::unexpected(client.error());
  // Right after the topic was created its partition may have no leader yet: try again.
  auto snapshot = kafka::ReadTopicSnapshot(*client, names.Control(), std::chrono::seconds(30));
  for (int attempt = 1; !snapshot && !signals.stop_requested(); ++attempt) {
    spdlog::warn("cannot read {} yet (attempt {}), retrying in 1s: {}", names.Control(), attempt,
                 snapshot.error().message);
    std::this_thread::sleep_for(std::chrono::seconds(1));
    snapshot = kafka::ReadTopicSnapshot(*client, names.Control(), std::chrono::seconds(30));
  }
  if (!snapshot) return MakeError("stopped before " + names.Control() + " was read");
  for (const auto& record : *snapshot) {
    if (auto ok = plane->pauses.Apply(record); !ok)
      spdlog::error("{}; ignored", ok.error().message);
  }
  spdlog::info("control: {} job(s) paused ({})", plane->pauses.paused_count(), names.Control());
  kafka::ConsumerOptions options;
  options.group_id = names.SchedulerControlGroup(ProcessId());
  options.quiet_rebalances = true;  // a group of its own: its one assignment says nothing
  options.on_error = [&metrics](const std::string&) { metrics.kafka_errors.Inc(); };
  auto consumer = kafka::NewRdKafkaConsumer(*client, options);
  if (!consumer) return tl::unexpected(consumer.error());
  plane->consumer = std::move(*consumer);
  plane->feed = std::make_unique<scheduler::ControlFeed>(*plane->consumer, plane->pauses, metrics,
                                                         names.Control());
  if (auto ok = plane->feed->Start(); !ok) return tl::unexpected(ok.error());
  kafka::ProducerOptions producer_options;
  producer_options.on_error = [&metrics](const std::string&) { metrics.kafka_errors.Inc(); };
  auto producer = kafka::NewRdKafkaProducer(*client, producer_options);
  if (!producer) return tl::unexpected(producer.error());
  plane->producer = std::move(*producer);
  plane->catalog =
      std::make_unique<scheduler::CatalogPublisher>(*plane->producer, clock, names.Jobs(), metrics);
  return plane;
}

// Catalog keys of jobs not in `current` (sorted names; jobs removed while no scheduler was
// active): they get tombstones. Reads the catalog topic keeping only those keys. Runs on a
// thread of its own: a large catalog takes longer to read than a lease lasts.
std::vector<std::string> StaleCatalogKeys(const KafkaFlags& flags, const SignalWatcher& signals,
                                          const std::vector<std::string>& current) {
  std::set<std::string> stale;
  auto client = flags.Client("krond-scheduler-catalog-" + ProcessId());
  if (!client) return {};
  kafka::ScanOptions scan;
  scan.timeout = std::chrono::seconds(60);
  // The scheduler's exit waits for this thread: it must not wait out the timeout.
  scan.stopped = [&signals] { return signals.stop_requested(); };
  Status read =
      kafka::ScanTopic(*client, flags.Topics().Jobs(), scan, [&](const kafka::ConsumedMessage& m) {
        if (m.value.empty()) {
          stale.erase(m.key);
        } else if (!std::binary_search(current.begin(), current.end(), m.key)) {
          stale.insert(m.key);
        }
        return true;
      });
  if (!read) {
    spdlog::warn("catalog: cannot read {}: {}", flags.Topics().Jobs(), read.error().message);
  }
  return {stale.begin(), stale.end()};
}

std::vector<std::string> SortedNames(const std::vector<config::Job>& jobs) {
  std::vector<std::string> names;
  names.reserve(jobs.size());
  for (const auto& job : jobs) names.push_back(job.name);
  std::sort(names.begin(), names.end());
  return names;
}

int RunScheduler(const SchedulerFlags& flags) {
  SignalWatcher signals;
  RealClock clock;
  if (flags.ha) {
    spdlog::warn(
        "--ha is deprecated and does nothing: every scheduler elects a leader and "
        "fires exactly once (docs/architecture.md); it will be removed");
  }
  auto options = Options(flags);
  auto shutdown_timeout = ParseDuration(flags.shutdown_timeout);
  auto audit_interval = ParseAuditInterval(flags.audit_interval);
  if (!options || !shutdown_timeout || !audit_interval) {
    if (!shutdown_timeout) spdlog::error("--shutdown-timeout {}", shutdown_timeout.error().message);
    if (!audit_interval) spdlog::error("--audit-interval {}", audit_interval.error().message);
    return 2;
  }
  auto signer = LoadTaskSigner(flags.task_signing_key);
  if (!signer) {
    spdlog::error("--task-signing-key: {}", signer.error().message);
    return 2;
  }
  options->signer = std::move(*signer);
  auto file = config::LoadJobFile(flags.jobs);
  if (!file) {
    LogProblems(file.error());
    spdlog::error("{}: {} problem(s); not starting", flags.jobs, file.error().size());
    return 1;
  }
  metrics::Registry registry;
  scheduler::SchedulerMetrics metrics(registry);
  LoopHealth health(clock, "topics not ensured yet (is Kafka up?)");
  auto server = StartAdminServer(registry, flags.metrics_addr, health.Probes());
  if (!server) {
    spdlog::error("{}", server.error().message);
    return 1;
  }
  std::vector<kafka::TopicSpec> topics = ClusterTopics(flags.kafka, file->clusters);
  for (auto& spec : SchedulerTopics(flags.kafka)) topics.push_back(std::move(spec));
  if (auto ok = EnsureTopicsPatiently(flags.kafka, topics, signals); !ok) {
    spdlog::error("{}", ok.error().message);
    return 1;
  }
  const messages::TopicNames names = flags.kafka.Topics();
  auto client = flags.kafka.Client("krond-scheduler-" + ProcessId());
  if (!client) {
    spdlog::error("{}", client.error().message);
    return 1;
  }
  // The tail holds the latest heartbeats: whether someone leads, or resigned.
  auto lease = kafka::NewRdKafkaPartitionFollower(*client, names.Leader(), 0, /*tail=*/16);
  if (!lease) {
    spdlog::error("{}", lease.error().message);
    return 1;
  }
  const kafka::ClientConfig kafka_client = *client;
  auto new_producer = [&]() {
    kafka::ProducerOptions producer;
    // Shared by every replica: a new active scheduler fences the old one.
    producer.transactional_id = names.SchedulerTransactionalId();
    producer.on_error = [&](const std::string&) { metrics.kafka_errors.Inc(); };
    return kafka::NewRdKafkaTransactionalProducer(kafka_client, producer);
  };
  auto read_state = [&](const std::function<bool(const kafka::ConsumedMessage&)>& record) {
    kafka::ScanOptions scan;
    scan.timeout = options->state_read_timeout;
    scan.stopped = [&signals] { return signals.stop_requested(); };
    return kafka::ScanTopic(kafka_client, names.State(), scan, record);
  };
  audit::AuditMetrics audit_metrics(registry);
  audit::PeriodicAuditOptions audit_options;
  audit_options.interval = *audit_interval;
  auto scan = [&](const std::string& topic, std::optional<SystemTime> since,
                  const std::function<bool(const kafka::ConsumedMessage&)>& record) {
    kafka::ScanOptions scan_options;
    scan_options.since = since;
    scan_options.timeout = std::chrono::minutes(5);
    scan_options.stopped = [&signals] { return signals.stop_requested(); };
    return kafka::ScanTopic(kafka_client, topic, scan_options, record);
  };
  audit::PeriodicAudit periodic_audit(clock, scan, names, audit_metrics, audit_options);
  periodic_audit.SetJobs(file->jobs, file->clusters);
  const size_t jobs = file->jobs.size();
  const size_t clusters = file->clusters.size();
  auto plane = StartControlPlane(flags.kafka, signals, metrics, clock);
  if (!plane) {
    spdlog::error("{}", plane.error().message);
    return 1;
  }
  scheduler::SchedulerService service(clock, new_producer, read_state, **lease, metrics, names,
                                      std::move(*file), *options);
  service.set_pauses(&(*plane)->pauses);
  ReleaseFreedMemory();
  periodic_audit.Start();
  health.MarkReady();
  spdlog::info(
      "scheduler started as {}: {} job(s) on {} cluster(s) from {}; standby until it "
      "holds the lease",
      options->owner, jobs, clusters, flags.jobs);

  // A reload is read and its topics ensured on a thread of its own: a large file takes
  // seconds to load, and the loop must renew the lease every 500 ms or a standby takes over.
  int64_t seen_mtime = ModifiedNs(flags.jobs);
  std::future<std::optional<config::JobFile>> reloading;
  // On becoming active the catalog is published once the stale keys are known.
  std::future<std::vector<std::string>> stale_keys;
  std::vector<std::string> removed_meanwhile;  // by reloads while stale_keys is read
  bool was_active = false;
  auto between_steps = [&] {
    health.MarkProgress();
    periodic_audit.SetActive(service.active(), clock.Now());
    (*plane)->Poll();
    if (service.active() && !was_active) {
      // At once, so the console knows the jobs; tombstones follow when the scan is done.
      (*plane)->catalog->Publish(&service.jobs(), {});
      (*plane)->catalog->Poll();
      stale_keys = std::async(std::launch::async, StaleCatalogKeys, std::cref(flags.kafka),
                              std::cref(signals), SortedNames(service.jobs()));
    }
    was_active = service.active();
    if (stale_keys.valid() &&
        stale_keys.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
      std::vector<std::string> stale = stale_keys.get();
      stale.insert(stale.end(), removed_meanwhile.begin(), removed_meanwhile.end());
      removed_meanwhile.clear();
      // Published again with them: rare (jobs removed while no scheduler was active).
      if (service.active() && !stale.empty()) {
        (*plane)->catalog->Publish(&service.jobs(), std::move(stale));
      }
    }
    if (reloading.valid()) {
      if (reloading.wait_for(std::chrono::seconds(0)) != std::future_status::ready) return;
      if (auto reloaded = reloading.get()) {
        periodic_audit.SetJobs(reloaded->jobs, reloaded->clusters);
        std::vector<std::string> removed = scheduler::RemovedJobs(service.jobs(), reloaded->jobs);
        service.Replace(std::move(*reloaded), clock.Now());
        // While the stale keys are read, their publication takes these with it too.
        if (stale_keys.valid()) {
          removed_meanwhile.insert(removed_meanwhile.end(), removed.begin(), removed.end());
        }
        if (service.active()) (*plane)->catalog->Publish(&service.jobs(), std::move(removed));
        ReleaseFreedMemory();
      }
    }
    const int64_t mtime = ModifiedNs(flags.jobs);
    const bool hup = signals.TakeReloadRequest();
    if (!hup && mtime == seen_mtime) return;
    seen_mtime = mtime;
    spdlog::info("reloading {} ({})", flags.jobs, hup ? "SIGHUP" : "file changed");
    reloading = std::async(std::launch::async, [&, running = service.jobs().size()] {
      return Reload(flags, signals, metrics, running);
    });
  };
  service.Run([&] { return signals.stop_requested(); }, between_steps, *shutdown_timeout);
  // No wait for the catalog: the stop must stay fast (a hand-over is measured in ms), and the
  // next active scheduler publishes it again.
  (*server)->Stop();
  spdlog::info("scheduler stopped after firing {} run(s)", service.fired());
  return 0;
}

KROND_REGISTER_COMMAND(Command{
    "scheduler",
    "Fire every due run of a job file into Kafka, exactly once, from any number "
    "of replicas",
    [](CLI::App& sub) -> std::function<int()> {
      auto flags = std::make_shared<SchedulerFlags>();
      sub.add_option("--jobs", flags->jobs, "Job file (YAML)")
          ->required()
          ->check(CLI::ExistingFile);
      sub.add_option("--metrics-addr", flags->metrics_addr,
                     "HOST:PORT for /metrics, /healthz, /readyz (port 0 picks a free one)")
          ->capture_default_str();
      sub.add_option("--lease-timeout", flags->lease_timeout,
                     "A standby takes over after seeing no heartbeat of the active scheduler "
                     "for this long")
          ->capture_default_str();
      sub.add_option("--heartbeat-interval", flags->heartbeat_interval,
                     "How often the active scheduler renews its lease when idle")
          ->capture_default_str();
      sub.add_option("--shutdown-timeout", flags->shutdown_timeout,
                     "On SIGTERM, longest wait to commit what was taken from the schedule "
                     "and hand over")
          ->capture_default_str();
      sub.add_option("--audit-interval", flags->audit_interval,
                     "While active, audit the fires of each interval (0: never; off above "
                     "100,000 jobs)")
          ->capture_default_str();
      sub.add_option("--dispatch-ahead", flags->dispatch_ahead,
                     "Publish each run this long before its instant (0..1m; 0: at the "
                     "instant); a job's dispatch_ahead: overrides it. Workers hold an early run "
                     "until its instant: upgrade them first (docs/architecture.md)")
          ->capture_default_str();
      sub.add_option("--task-signing-key", flags->task_signing_key,
                     "Private key (krond keygen) to sign every task with; workers given the "
                     "public key refuse tasks not signed by it (docs/security.md)")
          ->check(CLI::ExistingFile);
      sub.add_flag("--ha", flags->ha,
                   "Deprecated, does nothing: every scheduler elects a leader and fires exactly "
                   "once");
      flags->kafka.Add(sub);
      return [flags] { return RunScheduler(*flags); };
    }});

}  // namespace
}  // namespace krond::app
