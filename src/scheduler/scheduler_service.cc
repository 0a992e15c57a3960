#include "scheduler/scheduler_service.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "common/time_format.h"

namespace krond::scheduler {
namespace {
constexpr std::chrono::milliseconds kRetryDelay{500};
constexpr std::chrono::milliseconds kMaxSleep{100};
constexpr std::chrono::seconds kFailureWarningInterval{1};

double UnixSeconds(SystemTime t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}
}  // namespace

SchedulerService::SchedulerService(const Clock& clock, kafka::Producer& producer,
                                   SchedulerMetrics& metrics, messages::TopicNames topics,
                                   config::JobFile file)
    : clock_(clock),
      metrics_(metrics),
      topics_(std::move(topics)),
      file_(config::JobFile{file.path, file.clusters, {}}),
      scheduler_(std::move(file.jobs), clock.Now()),
      publisher_(producer, clock, [this](const std::string& topic, const std::string& error) {
        OnPublishFailure(topic, error);
      }) {
  CacheJobHandles();
  UpdateGauges();
}

void SchedulerService::CacheJobHandles() {
  // A label lookup takes a lock and a map search, and a topic name is built from its parts:
  // done here once per job and cluster, not per fire.
  job_handles_.clear();
  job_handles_.reserve(scheduler_.jobs().size());
  for (const auto& job : scheduler_.jobs()) {
    auto [cluster, added] = clusters_.try_emplace(job.cluster);
    if (added) {
      cluster->second = {&metrics_.fire_lag.WithLabels({job.cluster}), topics_.Tasks(job.cluster)};
    }
    job_handles_.push_back(
        {&metrics_.runs_fired.WithLabels({job.name, job.cluster}), &cluster->second});
  }
}

void SchedulerService::OnPublishFailure(const std::string& topic, const std::string& error) {
  // Every failure is counted, but warned about at most once a second: when the local queue
  // is full (the scheduler is overloaded) every run of a burst fails, and a warning line
  // per run cost more than the fires themselves.
  metrics_.produce_errors.Inc();
  ++failures_since_warning_;
  const MonoTime now = clock_.MonoNow();
  if (now < next_failure_warning_) return;
  spdlog::warn("publish to {} failed, will retry: {} ({} failure(s) since the last warning)", topic,
               error, failures_since_warning_);
  failures_since_warning_ = 0;
  next_failure_warning_ = now + kFailureWarningInterval;
}

messages::TaskMessage SchedulerService::MakeTask(const config::Job& job, SystemTime scheduled_at,
                                                 SystemTime now) const {
  return MakeTaskMessage(job, scheduled_at, now);
}

void SchedulerService::Send(const messages::TaskMessage& task, JobHandles m) {
  publisher_.Publish(
      m.cluster->task_topic, task.run_id, messages::Encode(task),
      [this, m, job = task.job, run_id = task.run_id,
       scheduled_at = task.scheduled_at](const kafka::DeliveryReport& report) {
        const SystemTime acked = clock_.Now();
        ++fired_;
        m.fired->Inc();
        m.cluster->lag->ObserveDuration(
            std::max(acked - scheduled_at, std::chrono::milliseconds(0)));
        // Checked first: formatting the timestamp costs more than the rest
        // of the acknowledgement, and at --log-level warn the line is dropped.
        if (spdlog::should_log(spdlog::level::info)) {
          spdlog::info("fired {} run {} scheduled {} -> {}[{}]@{} lag {}ms", job, run_id,
                       FormatRfc3339Utc(scheduled_at), report.topic, report.partition,
                       report.offset, (acked - scheduled_at).count());
        }
      },
      std::string(messages::PartitionKeyOf(task)));
}

SystemTime SchedulerService::Step(SystemTime now) {
  std::vector<DueRun> due = scheduler_.Tick(now);
  if (pauses_ != nullptr) {
    for (const DueRun& run : pauses_->TakePaused(due, scheduler_.jobs())) {
      metrics_.fires_skipped.WithLabels({"paused"}).Inc();
      spdlog::info("skipped {} fire {}: the job is paused", scheduler_.jobs()[run.job].name,
                   FormatRfc3339Utc(run.scheduled_at));
    }
  }
  for (const DueRun& run : due) {
    Send(MakeTask(scheduler_.jobs()[run.job], run.scheduled_at, now), job_handles_[run.job]);
  }
  publisher_.Poll(std::chrono::milliseconds(0));
  UpdateGauges();
  std::optional<SystemTime> next = scheduler_.NextFireTime();
  SystemTime wake = next ? *next : now + std::chrono::seconds(1);
  if (publisher_.NextRetry()) wake = std::min(wake, now + kRetryDelay);
  return wake;
}

void SchedulerService::Replace(config::JobFile file, SystemTime now) {
  const size_t count = file.jobs.size();
  file_.clusters = file.clusters;
  file_.path = file.path;
  scheduler_.Replace(std::move(file.jobs), now);
  CacheJobHandles();
  spdlog::info("loaded {} job(s) from {}", count, file_.path);
  UpdateGauges();
}

void SchedulerService::UpdateGauges() {
  metrics_.jobs_loaded.Set(static_cast<double>(scheduler_.jobs().size()));
  auto next = scheduler_.NextFireTime();
  metrics_.next_fire.Set(next ? UnixSeconds(*next) : 0.0);
  metrics_.runs_pending.Set(static_cast<double>(pending()));
}

Status SchedulerService::Run(const std::function<bool()>& stop,
                             const std::function<void()>& between_steps,
                             std::chrono::milliseconds flush_timeout) {
  auto last_hook = clock_.MonoNow();
  while (!stop()) {
    const SystemTime wake = Step(clock_.Now());
    // Sleep inside Poll so delivery reports are served while waiting; wake at the due
    // instant (ms resolution) or every kMaxSleep to notice stop and reload requests.
    const auto wait = std::clamp(wake - clock_.Now(), std::chrono::milliseconds(0), kMaxSleep);
    if (wait.count() > 0) publisher_.Poll(wait);
    if (clock_.MonoNow() - last_hook >= std::chrono::seconds(1)) {
      last_hook = clock_.MonoNow();
      between_steps();
    }
  }
  spdlog::info("stopping: flushing {} pending run(s)", pending());
  Status flushed = publisher_.Flush(flush_timeout);
  UpdateGauges();
  if (!flushed) {
    return MakeError(flushed.error().message +
                     " before shutdown: those runs are lost unless another scheduler fires them");
  }
  return {};
}

}  // namespace krond::scheduler
