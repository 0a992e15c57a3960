#include "scheduler/job_catalog.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "cron/describe.h"

namespace krond::scheduler {

messages::TaskMessage JobFields(const config::Job& job) {
  messages::TaskMessage t;
  t.job = job.name;
  t.cluster = job.cluster;
  t.command = job.command;
  t.max_attempts = job.retry.max_attempts;
  t.timeout = job.timeout;
  t.starting_deadline = job.starting_deadline;
  t.retry.backoff = job.retry.backoff;
  t.retry.max_backoff = job.retry.max_backoff;
  t.retry.multiplier = job.retry.multiplier;
  t.retry.jitter = job.retry.jitter;
  t.retry.retry_on = job.retry.RetryOn();
  t.concurrency = std::string(config::ToString(job.concurrency));
  t.sandbox = std::string(config::ToString(job.sandbox));
  t.network = job.network;
  t.user = std::string(job.user);
  if (job.env) t.env = *job.env;
  if (job.microvm_vcpus != 0 || job.microvm_memory_mib != 0) {
    t.microvm = messages::TaskMessage::MicroVm{job.microvm_memory_mib, job.microvm_vcpus};
  }
  return t;
}

messages::TaskMessage MakeTaskMessage(const config::Job& job, SystemTime scheduled_at,
                                      SystemTime now, int64_t fence) {
  messages::TaskMessage t = messages::NewRun(JobFields(job), scheduled_at, now);
  if (fence != 0) t.fence = fence;
  return t;
}

messages::CatalogEntry CatalogEntryOf(const config::Job& job, SystemTime now, size_t next_count) {
  messages::CatalogEntry e;
  e.job = job.name;
  e.cluster = job.cluster;
  e.schedule = job.schedule.text();
  e.timezone = std::string(job.timezone);
  e.description = cron::Describe(job.schedule);
  e.catch_up = std::string(config::ToString(job.catch_up));
  const cron::Schedule schedule = job.schedule.AnchoredAt(now);
  SystemTime t = now;
  for (size_t i = 0; i < next_count; ++i) {
    std::optional<SystemTime> next = schedule.Next(t);
    if (!next) break;
    e.next.push_back(*next);
    t = *next;
  }
  e.published_at = now;
  e.task = JobFields(job);
  return e;
}

std::vector<std::string> RemovedJobs(const std::vector<config::Job>& before,
                                     const std::vector<config::Job>& after) {
  std::vector<std::string_view> kept;
  kept.reserve(after.size());
  for (const auto& job : after) kept.push_back(job.name);
  std::sort(kept.begin(), kept.end());
  std::vector<std::string> removed;
  for (const auto& job : before) {
    if (!std::binary_search(kept.begin(), kept.end(), std::string_view(job.name))) {
      removed.push_back(job.name);
    }
  }
  std::sort(removed.begin(), removed.end());
  return removed;
}

CatalogPublisher::CatalogPublisher(kafka::Producer& producer, const Clock& clock, std::string topic,
                                   SchedulerMetrics& metrics, size_t max_in_flight)
    : clock_(clock),
      publisher_(
          producer, clock,
          [&metrics](const std::string& to, const kafka::ProduceError& error,
                     kafka::ReliablePublisher::Next next) {
            metrics.produce_errors.Inc();
            if (next == kafka::ReliablePublisher::Next::kGiveUp) {
              spdlog::error("catalog: publish to {} refused for good: {}", to, error.message);
            } else {
              spdlog::warn("catalog: publish to {} failed, will retry: {}", to, error.message);
            }
          }),
      topic_(std::move(topic)),
      max_in_flight_(max_in_flight) {}

void CatalogPublisher::Publish(const std::vector<config::Job>* jobs,
                               std::vector<std::string> removed) {
  jobs_ = jobs;
  next_job_ = 0;
  removed_ = std::move(removed);
}

void CatalogPublisher::Poll(std::chrono::milliseconds timeout) {
  const bool had_work = jobs_ != nullptr;
  const SystemTime now = clock_.Now();
  while (jobs_ != nullptr && publisher_.Pending() < max_in_flight_) {
    if (next_job_ < jobs_->size()) {
      const config::Job& job = (*jobs_)[next_job_++];
      publisher_.Publish(topic_, job.name, messages::Encode(CatalogEntryOf(job, now)), nullptr);
    } else if (!removed_.empty()) {
      publisher_.PublishTombstone(topic_, std::move(removed_.back()), nullptr);
      removed_.pop_back();
    } else {
      spdlog::info("catalog: published {} job(s) to {}", next_job_, topic_);
      jobs_ = nullptr;
      break;
    }
  }
  if (had_work || publisher_.Pending() > 0) publisher_.Poll(timeout);
}

bool CatalogPublisher::done() const { return jobs_ == nullptr && publisher_.Pending() == 0; }

Status CatalogPublisher::Flush(std::chrono::milliseconds timeout) {
  const MonoTime deadline = clock_.MonoNow() + timeout;
  while (!done() && clock_.MonoNow() < deadline) Poll(std::chrono::milliseconds(50));
  if (!done()) return MakeError("catalog: publication to " + topic_ + " not acknowledged");
  return {};
}

}  // namespace krond::scheduler
