// `krond scheduler`: fires every due run of a job file into Kafka.
#include <malloc.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <atomic>

#include "common/clock.h"
#include "common/signals.h"
#include "config/job_file.h"
#include "kafka/rdkafka_client.h"
#include "main/app_support.h"
#include "main/command.h"
#include "scheduler/scheduler_service.h"

namespace krond::app {
namespace {

struct SchedulerFlags {
  std::string jobs;
  std::string metrics_addr = "127.0.0.1:0";
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
  // Parsing the job file builds a YAML tree of about 5 KB per job that is freed by now;
  // hand that memory back to the OS, or a large job file's parse peak stays resident for
  // the life of the process (docs/benchmarks.md, "One million schedules").
  malloc_trim(0);
  spdlog::info("scheduler started: {} job(s) on {} cluster(s) from {}", jobs, clusters, flags.jobs);

  int64_t seen_mtime = ModifiedNs(flags.jobs);
  auto maybe_reload = [&] {
    health.MarkProgress();
    const int64_t mtime = ModifiedNs(flags.jobs);
    const bool hup = signals.TakeReloadRequest();
    if (!hup && mtime == seen_mtime) return;
    seen_mtime = mtime;
    spdlog::info("reloading {} ({})", flags.jobs, hup ? "SIGHUP" : "file changed");
    auto reloaded = config::LoadJobFile(flags.jobs);
    if (!reloaded) {
      LogProblems(reloaded.error());
      spdlog::error("reload of {} rejected: {} problem(s); still running the previous {} job(s)",
                    flags.jobs, reloaded.error().size(), service.jobs().size());
      metrics.reloads.WithLabels({"failed"}).Inc();
      return;
    }
    if (auto ok = EnsureTopicsPatiently(flags.kafka, reloaded->clusters, signals); !ok) {
      spdlog::error("reload of {} rejected: {}", flags.jobs, ok.error().message);
      metrics.reloads.WithLabels({"failed"}).Inc();
      return;
    }
    service.Replace(std::move(*reloaded), clock.Now());
    metrics.reloads.WithLabels({"ok"}).Inc();
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
      flags->kafka.Add(sub);
      return [flags] { return RunScheduler(*flags); };
    }});

}  // namespace
}  // namespace krond::app
