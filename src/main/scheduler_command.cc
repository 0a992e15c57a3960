// `krond scheduler`: fires every due run of a job file into Kafka.
#include <malloc.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <optional>
#include <thread>

#include "common/clock.h"
#include "common/signals.h"
#include "config/job_file.h"
#include "kafka/rdkafka_client.h"
#include "main/app_support.h"
#include "main/command.h"
#include "scheduler/ha_scheduler.h"
#include "scheduler/leader_election.h"
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

// `krond scheduler --ha`: any number of replicas; the elected one fires, exactly once.
int RunHaScheduler(const SchedulerFlags& flags, config::JobFile file, SignalWatcher& signals,
                   const Clock& clock, scheduler::SchedulerMetrics& metrics, LoopHealth& health) {
  if (auto ok = EnsureTopicsPatiently(flags.kafka, SchedulerTopics(flags.kafka), signals); !ok) {
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
  const size_t jobs = file.jobs.size();
  scheduler::HaScheduler service(clock, new_producer, read_state, metrics, names, std::move(file));
  ReleaseFreedMemory();
  spdlog::info("scheduler started (HA, standby until elected): {} job(s) from {}", jobs,
               flags.jobs);

  int64_t seen_mtime = ModifiedNs(flags.jobs);
  auto last_hook = clock.MonoNow();
  while (!signals.stop_requested()) {
    service.SetLeader(elector.Poll(std::chrono::milliseconds(0)));
    const SystemTime wake = service.Step(clock.Now());
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
          service.Replace(std::move(*reloaded), clock.Now());
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
  if (auto ok =
          EnsureTopicsPatiently(flags.kafka, ClusterTopics(flags.kafka, file->clusters), signals);
      !ok) {
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
  scheduler::SchedulerService service(clock, **producer, metrics, flags.kafka.Topics(),
                                      std::move(*file));
  metrics.active.Set(1);
  ReleaseFreedMemory();
  spdlog::info("scheduler started: {} job(s) on {} cluster(s) from {}", jobs, clusters, flags.jobs);

  int64_t seen_mtime = ModifiedNs(flags.jobs);
  auto maybe_reload = [&] {
    health.MarkProgress();
    const int64_t mtime = ModifiedNs(flags.jobs);
    const bool hup = signals.TakeReloadRequest();
    if (!hup && mtime == seen_mtime) return;
    seen_mtime = mtime;
    spdlog::info("reloading {} ({})", flags.jobs, hup ? "SIGHUP" : "file changed");
    if (auto reloaded = Reload(flags, signals, metrics, service.jobs().size())) {
      service.Replace(std::move(*reloaded), clock.Now());
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
