// `krond scheduler`: fires every due run of a job file into Kafka.
#include <malloc.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <optional>
#include <set>
#include <thread>

#include "common/clock.h"
#include "common/signals.h"
#include "config/job_file.h"
#include "kafka/rdkafka_client.h"
#include "main/app_support.h"
#include "main/command.h"
#include "scheduler/ha_scheduler.h"
#include "scheduler/job_catalog.h"
#include "scheduler/leader_election.h"
#include "scheduler/pause_set.h"
#include "scheduler/scheduler_service.h"

namespace krond::app {
namespace {

struct SchedulerFlags {
  std::string jobs;
  std::string metrics_addr = "127.0.0.1:0";
  // Leader election + transactional exactly-once firing (docs/architecture.md).
  bool ha = false;
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

// The topics only the HA scheduler uses: the one-partition leader-election topic and the
// compacted state topic. Retries every 2 s while Kafka is unreachable.
Status EnsureHaTopics(const KafkaFlags& flags, const SignalWatcher& signals) {
  auto config = flags.Client("krond-admin-" + ProcessId());
  if (!config) return tl::unexpected(config.error());
  auto admin = kafka::NewRdKafkaAdmin(*config);
  if (!admin) return tl::unexpected(admin.error());
  const messages::TopicNames names = flags.Topics();
  const std::string min_isr = flags.replication_factor >= 3 ? "2" : "1";
  const std::vector<kafka::TopicSpec> specs = {
      {names.prefix() + ".leader", 1, flags.replication_factor, {{"min.insync.replicas", min_isr}}},
      {names.State(),
       1,
       flags.replication_factor,
       {{"cleanup.policy", "compact"}, {"min.insync.replicas", min_isr}}},
  };
  while (!signals.stop_requested()) {
    auto reports = (*admin)->EnsureTopics(specs, std::chrono::seconds(10));
    if (reports) return {};
    if (reports.error().message.find("partition(s) but") != std::string::npos) {
      return tl::unexpected(reports.error());
    }
    spdlog::warn("cannot ensure HA topics yet, retrying in 2s: {}", reports.error().message);
    for (int i = 0; i < 20 && !signals.stop_requested(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  return MakeError("stopped before topics were ensured");
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
  if (auto ok = EnsureTopicsPatiently(flags.kafka, reloaded->clusters, signals); !ok) {
    spdlog::error("reload of {} rejected: {}", flags.jobs, ok.error().message);
    metrics.reloads.WithLabels({"failed"}).Inc();
    return std::nullopt;
  }
  metrics.reloads.WithLabels({"ok"}).Inc();
  return std::move(*reloaded);
}

// The scheduler's side of the control plane (docs/control.md): the pauses read from the
// control topic, and the job catalog it publishes. Built once per process; the loops call
// Poll, and Publish on start (or takeover) and after each reload.
struct ControlPlane {
  scheduler::PauseSet pauses;
  std::unique_ptr<kafka::Consumer> consumer;
  std::unique_ptr<scheduler::ControlFeed> feed;
  std::unique_ptr<kafka::Producer> producer;  // the catalog's; may be the firing producer
  std::unique_ptr<scheduler::CatalogPublisher> catalog;

  void Poll() {
    feed->Poll();
    catalog->Poll();
  }
};

// Reads the control topic to its end before the first fire (so a paused job never fires
// at start), then follows it with a consumer of a group of its own that never commits.
// `catalog_producer` null: a producer of its own is made for the catalog.
Result<std::unique_ptr<ControlPlane>> StartControlPlane(const KafkaFlags& flags,
                                                        const SignalWatcher& signals,
                                                        scheduler::SchedulerMetrics& metrics,
                                                        const Clock& clock,
                                                        kafka::Producer* catalog_producer) {
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
  options.group_id = names.prefix() + ".scheduler-control." + ProcessId();
  options.on_error = [&metrics](const std::string&) { metrics.kafka_errors.Inc(); };
  auto consumer = kafka::NewRdKafkaConsumer(*client, options);
  if (!consumer) return tl::unexpected(consumer.error());
  plane->consumer = std::move(*consumer);
  plane->feed = std::make_unique<scheduler::ControlFeed>(*plane->consumer, plane->pauses, metrics,
                                                         names.Control());
  if (auto ok = plane->feed->Start(); !ok) return tl::unexpected(ok.error());
  if (catalog_producer == nullptr) {
    kafka::ProducerOptions producer_options;
    producer_options.on_error = [&metrics](const std::string&) { metrics.kafka_errors.Inc(); };
    auto producer = kafka::NewRdKafkaProducer(*client, producer_options);
    if (!producer) return tl::unexpected(producer.error());
    plane->producer = std::move(*producer);
    catalog_producer = plane->producer.get();
  }
  plane->catalog = std::make_unique<scheduler::CatalogPublisher>(*catalog_producer, clock,
                                                                 names.Jobs(), metrics);
  return plane;
}

// Catalog keys of jobs that are not in `jobs` (removed while no scheduler ran): they get
// tombstones. Reads the catalog topic keeping only those keys.
std::vector<std::string> StaleCatalogKeys(const KafkaFlags& flags,
                                          const std::vector<config::Job>& jobs) {
  std::vector<std::string_view> current;
  current.reserve(jobs.size());
  for (const auto& job : jobs) current.push_back(job.name);
  std::sort(current.begin(), current.end());
  std::set<std::string> stale;
  auto client = flags.Client("krond-scheduler-catalog-" + ProcessId());
  if (!client) return {};
  Status read = kafka::VisitTopicSnapshot(
      *client, flags.Topics().Jobs(), std::chrono::seconds(60), [&](kafka::ConsumedMessage&& m) {
        if (m.value.empty()) {
          stale.erase(m.key);
        } else if (!std::binary_search(current.begin(), current.end(), std::string_view(m.key))) {
          stale.insert(std::move(m.key));
        }
      });
  if (!read)
    spdlog::warn("catalog: cannot read {}: {}", flags.Topics().Jobs(), read.error().message);
  return {stale.begin(), stale.end()};
}

// `krond scheduler --ha`: any number of replicas; the elected one fires, exactly once.
int RunHaScheduler(const SchedulerFlags& flags, config::JobFile file, SignalWatcher& signals,
                   const Clock& clock, scheduler::SchedulerMetrics& metrics, LoopHealth& health) {
  if (auto ok = EnsureHaTopics(flags.kafka, signals); !ok) {
    spdlog::error("{}", ok.error().message);
    return 1;
  }
  const messages::TopicNames names = flags.kafka.Topics();
  auto client = flags.kafka.Client("krond-scheduler-" + ProcessId());
  if (!client) {
    spdlog::error("{}", client.error().message);
    return 1;
  }
  scheduler::LeaderElector* elector_ptr = nullptr;
  kafka::ConsumerOptions consumer_options;
  consumer_options.group_id = names.prefix() + ".scheduler-leader";
  consumer_options.on_error = [&](const std::string&) { metrics.kafka_errors.Inc(); };
  // The elector is the listener; it is created right after the consumer.
  struct Forward : kafka::RebalanceListener {
    scheduler::LeaderElector** target;
    void OnAssigned(const std::vector<kafka::TopicPartition>& p) override {
      if (*target) (*target)->OnAssigned(p);
    }
    void OnRevoked(const std::vector<kafka::TopicPartition>& p) override {
      if (*target) (*target)->OnRevoked(p);
    }
  } forward;
  forward.target = &elector_ptr;
  consumer_options.listener = &forward;
  auto consumer = kafka::NewRdKafkaConsumer(*client, consumer_options);
  if (!consumer) {
    spdlog::error("{}", consumer.error().message);
    return 1;
  }
  scheduler::LeaderElector elector(**consumer, names.prefix() + ".leader");
  elector_ptr = &elector;
  if (auto ok = elector.Start(); !ok) {
    spdlog::error("{}", ok.error().message);
    return 1;
  }
  const kafka::ClientConfig kafka_client = *client;
  auto new_producer = [&]() {
    kafka::ProducerOptions options;
    // Shared by every replica: a new active replica fences the old one.
    options.transactional_id = names.prefix() + ".scheduler";
    options.on_error = [&](const std::string&) { metrics.kafka_errors.Inc(); };
    return kafka::NewRdKafkaTransactionalProducer(kafka_client, options);
  };
  auto read_state = [&]() {
    return kafka::ReadTopicSnapshot(kafka_client, names.State(), std::chrono::seconds(30));
  };
  auto plane = StartControlPlane(flags.kafka, signals, metrics, clock, nullptr);
  if (!plane) {
    spdlog::error("{}", plane.error().message);
    return 1;
  }
  const size_t jobs = file.jobs.size();
  scheduler::HaScheduler service(clock, new_producer, read_state, metrics, names, std::move(file));
  service.set_pauses(&(*plane)->pauses);
  bool was_active = false;
  ReleaseFreedMemory();
  spdlog::info("scheduler started (HA, standby until elected): {} job(s) from {}", jobs,
               flags.jobs);

  int64_t seen_mtime = ModifiedNs(flags.jobs);
  auto last_hook = clock.MonoNow();
  while (!signals.stop_requested()) {
    service.SetLeader(elector.Poll(std::chrono::milliseconds(0)));
    (*plane)->Poll();
    const SystemTime wake = service.Step(clock.Now());
    if (service.active() && !was_active) {
      (*plane)->catalog->Publish(&service.jobs(), StaleCatalogKeys(flags.kafka, service.jobs()));
    }
    was_active = service.active();
    const auto wait = std::clamp(wake - clock.Now(), std::chrono::milliseconds(0),
                                 std::chrono::milliseconds(100));
    if (wait.count() > 0) elector.Poll(wait);
    if (clock.MonoNow() - last_hook >= std::chrono::seconds(1)) {
      last_hook = clock.MonoNow();
      health.MarkProgress();
      const int64_t mtime = ModifiedNs(flags.jobs);
      const bool hup = signals.TakeReloadRequest();
      if (hup || mtime != seen_mtime) {
        seen_mtime = mtime;
        spdlog::info("reloading {} ({})", flags.jobs, hup ? "SIGHUP" : "file changed");
        if (auto reloaded = Reload(flags, signals, metrics, service.jobs().size())) {
          std::vector<std::string> removed = scheduler::RemovedJobs(service.jobs(), reloaded->jobs);
          service.Replace(std::move(*reloaded), clock.Now());
          if (service.active()) (*plane)->catalog->Publish(&service.jobs(), std::move(removed));
          ReleaseFreedMemory();
        }
      }
    }
  }
  service.Stop();
  elector.Close();  // leave the group: a standby takes over at once
  spdlog::info("scheduler stopped cleanly after firing {} run(s)", service.fired());
  return 0;
}

int RunScheduler(const SchedulerFlags& flags) {
  SignalWatcher signals;
  RealClock clock;
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
  if (auto ok = EnsureTopicsPatiently(flags.kafka, file->clusters, signals); !ok) {
    spdlog::error("{}", ok.error().message);
    return 1;
  }
  health.MarkReady();
  if (flags.ha) {
    const int rc = RunHaScheduler(flags, std::move(*file), signals, clock, metrics, health);
    (*server)->Stop();
    return rc;
  }
  auto client = flags.kafka.Client("krond-scheduler-" + ProcessId());
  if (!client) {
    spdlog::error("{}", client.error().message);
    return 1;
  }
  kafka::ProducerOptions producer_options;
  producer_options.on_error = [&](const std::string&) { metrics.kafka_errors.Inc(); };
  auto producer = kafka::NewRdKafkaProducer(*client, producer_options);
  if (!producer) {
    spdlog::error("{}", producer.error().message);
    return 1;
  }
  const size_t jobs = file->jobs.size();
  const size_t clusters = file->clusters.size();
  auto plane = StartControlPlane(flags.kafka, signals, metrics, clock, producer->get());
  if (!plane) {
    spdlog::error("{}", plane.error().message);
    return 1;
  }
  std::vector<std::string> stale = StaleCatalogKeys(flags.kafka, file->jobs);
  scheduler::SchedulerService service(clock, **producer, metrics, flags.kafka.Topics(),
                                      std::move(*file));
  service.set_pauses(&(*plane)->pauses);
  (*plane)->catalog->Publish(&service.jobs(), std::move(stale));
  metrics.active.Set(1);
  ReleaseFreedMemory();
  spdlog::info("scheduler started: {} job(s) on {} cluster(s) from {}", jobs, clusters, flags.jobs);

  int64_t seen_mtime = ModifiedNs(flags.jobs);
  auto maybe_reload = [&] {
    health.MarkProgress();
    (*plane)->Poll();
    const int64_t mtime = ModifiedNs(flags.jobs);
    const bool hup = signals.TakeReloadRequest();
    if (!hup && mtime == seen_mtime) return;
    seen_mtime = mtime;
    spdlog::info("reloading {} ({})", flags.jobs, hup ? "SIGHUP" : "file changed");
    if (auto reloaded = Reload(flags, signals, metrics, service.jobs().size())) {
      std::vector<std::string> removed = scheduler::RemovedJobs(service.jobs(), reloaded->jobs);
      service.Replace(std::move(*reloaded), clock.Now());
      (*plane)->catalog->Publish(&service.jobs(), std::move(removed));
      ReleaseFreedMemory();
    }
  };
  Status done =
      service.Run([&] { return signals.stop_requested(); }, maybe_reload, std::chrono::seconds(30));
  metrics.active.Set(0);
  (*server)->Stop();
  if (!done) {
    spdlog::error("{}", done.error().message);
    return 1;
  }
  spdlog::info("scheduler stopped cleanly after firing {} run(s)", service.fired());
  return 0;
}

KROND_REGISTER_COMMAND(Command{
    "scheduler", "Fire every due run of a job file into Kafka",
    [](CLI::App& sub) -> std::function<int()> {
      auto flags = std::make_shared<SchedulerFlags>();
      sub.add_option("--jobs", flags->jobs, "Job file (YAML)")
          ->required()
          ->check(CLI::ExistingFile);
      sub.add_option("--metrics-addr", flags->metrics_addr,
                     "HOST:PORT for /metrics, /healthz, /readyz (port 0 picks a free one)")
          ->capture_default_str();
      sub.add_flag("--ha", flags->ha,
                   "Run as one of several replicas: leader election and exactly-once firing "
                   "with Kafka transactions (docs/architecture.md)");
      flags->kafka.Add(sub);
      return [flags] { return RunScheduler(*flags); };
    }});

}  // namespace
}  // namespace krond::app
