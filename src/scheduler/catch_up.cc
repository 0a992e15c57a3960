#include "scheduler/catch_up.h"

#include <algorithm>
#include <numeric>

namespace krond::scheduler {
namespace {

using messages::SkipReason;

// A contiguous run of skipped instants being collected.
struct Range {
  std::optional<SystemTime> first;
  SystemTime last{};
  int64_t count = 0;
  void Add(SystemTime t) {
    if (!first) first = t;
    last = t;
    ++count;
  }
};

void AddSkip(CatchUpPlan& plan, uint32_t job, SkipReason reason, const Range& range) {
  if (range.first) plan.skips.push_back({job, reason, *range.first, range.last, range.count});
}

}  // namespace

StateRestorer::StateRestorer(const std::vector<config::Job>& jobs, SystemTime since)
    : jobs_(jobs), since_(since) {
  by_name_.resize(jobs.size());
  std::iota(by_name_.begin(), by_name_.end(), 0);
  std::sort(by_name_.begin(), by_name_.end(),
            [&jobs](uint32_t a, uint32_t b) { return jobs[a].name < jobs[b].name; });
  state_.handled.resize(jobs.size());
}

void StateRestorer::Add(std::string_view value) {
  ++state_.records;
  auto record = messages::DecodeFireState(value);
  if (!record) {
    ++state_.undecodable;
    return;
  }
  state_.fence = std::max(state_.fence, record->fence);
  auto it = std::lower_bound(
      by_name_.begin(), by_name_.end(), record->job,
      [this](uint32_t job, const std::string& name) { return jobs_[job].name < name; });
  if (it == by_name_.end() || jobs_[*it].name != record->job) {
    if (record->last_fired > since_) {
      state_.removed.push_back({std::move(record->job), record->last_fired});
    }
    return;
  }
  std::optional<SystemTime>& handled = state_.handled[*it];
  // Compaction keeps the latest record per key, but the log may still hold older ones.
  if (!handled || *handled < record->last_fired) handled = record->last_fired;
}

RestoredState StateRestorer::Take() {
  // The latest record per removed job: by name, latest first, then the first of each name.
  std::vector<RemovedJobRun>& removed = state_.removed;
  std::sort(removed.begin(), removed.end(), [](const RemovedJobRun& a, const RemovedJobRun& b) {
    return a.job != b.job ? a.job < b.job : a.at > b.at;
  });
  removed.erase(
      std::unique(removed.begin(), removed.end(),
                  [](const RemovedJobRun& a, const RemovedJobRun& b) { return a.job == b.job; }),
      removed.end());
  return std::move(state_);
}

CatchUpPlan PlanCatchUp(const std::vector<config::Job>& jobs,
                        std::span<const std::optional<SystemTime>> handled, SystemTime now,
                        const CatchUpOptions& options) {
  CatchUpPlan plan;
  for (uint32_t i = 0; i < jobs.size() && i < handled.size(); ++i) {
    const config::Job& job = jobs[i];
    if (!handled[i] || *handled[i] >= now) continue;
    const cron::Schedule schedule = job.schedule.AnchoredAt(*handled[i]);
    const SystemTime oldest_allowed =
        job.starting_deadline ? now - *job.starting_deadline : SystemTime::min();
    Range dropped, skipped;
    std::optional<SystemTime> latest, decided;
    size_t enumerated = 0;
    std::optional<SystemTime> t = schedule.Next(*handled[i]);
    for (; t && *t <= now && enumerated < options.max_per_job; t = schedule.Next(*t)) {
      ++enumerated;
      decided = *t;
      if (*t < oldest_allowed) {
        dropped.Add(*t);
      } else if (options.handover_since && *t > *options.handover_since) {
        plan.runs.push_back({i, *t});
      } else if (job.catch_up == config::CatchUpPolicy::kAll) {
        plan.runs.push_back({i, *t});
      } else if (job.catch_up == config::CatchUpPolicy::kNone) {
        skipped.Add(*t);
      } else {  // kLast: the previous latest becomes a skip
        if (latest) skipped.Add(*latest);
        latest = *t;
      }
    }
    if (latest) plan.runs.push_back({i, *latest});
    AddSkip(plan, i, SkipReason::kStartingDeadline, dropped);
    AddSkip(plan, i, SkipReason::kCatchUp, skipped);
    plan.dropped_by_deadline += static_cast<size_t>(dropped.count);
    plan.skipped_by_policy += static_cast<size_t>(skipped.count);
    if (t && *t <= now) {  // stopped at the limit: the rest is not enumerated
      plan.skips.push_back({i, SkipReason::kCatchUpLimit, *t, now, -1});
      decided = now;
    }
    if (decided) plan.decided.emplace_back(i, *decided);
  }
  std::sort(plan.runs.begin(), plan.runs.end(), [](const DueRun& a, const DueRun& b) {
    return a.scheduled_at != b.scheduled_at ? a.scheduled_at < b.scheduled_at : a.job < b.job;
  });
  return plan;
}

}  // namespace krond::scheduler
