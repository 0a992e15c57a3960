#include "scheduler/scheduler.h"

namespace krond::scheduler {

Scheduler::Scheduler(std::vector<config::Job> jobs, SystemTime start)
    : jobs_(std::move(jobs)), anchor_(start) {
  Rebuild(start, {});
}

void Scheduler::Rebuild(SystemTime now, const std::unordered_map<std::string, SystemTime>& keep) {
  queue_.Clear();
  queue_.Reserve(jobs_.size());
  pending_.assign(jobs_.size(), std::nullopt);
  for (uint32_t i = 0; i < jobs_.size(); ++i) {
    jobs_[i].schedule = jobs_[i].schedule.AnchoredAt(anchor_);
    auto kept = keep.find(jobs_[i].name);
    std::optional<SystemTime> next =
        kept != keep.end() ? std::optional(kept->second) : jobs_[i].schedule.Next(now);
    if (next) {
      pending_[i] = next;
      queue_.Push(*next, i);
    }
  }
}

std::vector<DueRun> Scheduler::Tick(SystemTime now) {
  std::vector<DueRun> due;
  while (!queue_.Empty() && queue_.TopTime() <= now) {
    const uint32_t job = queue_.TopJob();
    const SystemTime at = queue_.TopTime();
    queue_.Pop();
    due.push_back({job, at});
    std::optional<SystemTime> next = jobs_[job].schedule.Next(at);
    pending_[job] = next;
    if (next) queue_.Push(*next, job);
  }
  return due;
}

std::optional<SystemTime> Scheduler::NextFireTime() const {
  if (queue_.Empty()) return std::nullopt;
  return queue_.TopTime();
}

std::optional<SystemTime> Scheduler::NextFireOf(const std::string& job) const {
  for (size_t i = 0; i < jobs_.size(); ++i) {
    if (jobs_[i].name == job) return pending_[i];
  }
  return std::nullopt;
}

void Scheduler::StartAfter(const std::unordered_map<std::string, SystemTime>& last_fired,
                           SystemTime now) {
  std::unordered_map<std::string, SystemTime> keep;
  for (const auto& job : jobs_) {
    auto it = last_fired.find(job.name);
    if (it == last_fired.end() || it->second <= now) continue;
    if (auto next = job.schedule.AnchoredAt(anchor_).Next(it->second)) keep[job.name] = *next;
  }
  Rebuild(now, keep);
}

void Scheduler::Replace(std::vector<config::Job> jobs, SystemTime now) {
  std::unordered_map<std::string_view, const config::Job*> incoming;
  for (const auto& j : jobs) incoming.emplace(j.name, &j);
  std::unordered_map<std::string, SystemTime> keep;
  for (uint32_t i = 0; i < jobs_.size(); ++i) {
    auto it = incoming.find(jobs_[i].name);
    if (!pending_[i] || it == incoming.end()) continue;
    if (it->second->schedule.text() == jobs_[i].schedule.text() &&
        it->second->timezone == jobs_[i].timezone) {
      keep.emplace(jobs_[i].name, *pending_[i]);
    }
  }
  jobs_ = std::move(jobs);
  Rebuild(now, keep);
}

}  // namespace krond::scheduler
