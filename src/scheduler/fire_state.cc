#include "scheduler/fire_state.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/time_format.h"

namespace krond::scheduler {

std::string EncodeFireState(const FireState& state) {
  nlohmann::json j = {
      {"v", 1}, {"job", state.job}, {"last_fired", FormatRfc3339Utc(state.last_fired)}};
  return j.dump();
}

Result<FireState> DecodeFireState(std::string_view text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return MakeError("state record is not a JSON object");
  auto v = j.find("v");
  if (v == j.end() || !v->is_number_integer() || v->get<int>() < 1 || v->get<int>() > 1) {
    return MakeError("state record has no known version v");
  }
  auto job = j.find("job");
  auto last = j.find("last_fired");
  if (job == j.end() || !job->is_string() || last == j.end() || !last->is_string()) {
    return MakeError("state record lacks job or last_fired");
  }
  auto t = ParseRfc3339(last->get<std::string>());
  if (!t) return MakeError("state record last_fired: " + t.error().message);
  return FireState{job->get<std::string>(), *t};
}

CatchUpPlan PlanCatchUp(const std::vector<config::Job>& jobs, const LastFired& last_fired,
                        SystemTime now, size_t max_per_job) {
  CatchUpPlan plan;
  for (uint32_t i = 0; i < jobs.size(); ++i) {
    const config::Job& job = jobs[i];
    auto it = last_fired.find(job.name);
    if (it == last_fired.end() || it->second >= now) continue;
    const cron::Schedule schedule = job.schedule.AnchoredAt(it->second);
    const SystemTime oldest_allowed =
        job.starting_deadline ? now - *job.starting_deadline : SystemTime::min();
    std::vector<SystemTime> missed;
    size_t total = 0;
    for (auto t = schedule.Next(it->second); t && *t <= now; t = schedule.Next(*t)) {
      if (*t < oldest_allowed) {
        ++plan.dropped_by_deadline;
        continue;
      }
      ++total;
      if (job.catch_up == config::CatchUpPolicy::kAll) {
        if (missed.size() < max_per_job) missed.push_back(*t);
      } else {
        if (missed.empty()) missed.push_back(*t);
        missed.back() = *t;  // only the latest is kept
      }
      if (total >= max_per_job && job.catch_up == config::CatchUpPolicy::kAll) break;
    }
    if (missed.empty()) continue;
    if (job.catch_up == config::CatchUpPolicy::kNone) {
      plan.skipped_by_policy += total;
      continue;
    }
    if (job.catch_up == config::CatchUpPolicy::kLast) plan.skipped_by_policy += total - 1;
    for (SystemTime t : missed) plan.runs.push_back({i, t});
  }
  std::sort(plan.runs.begin(), plan.runs.end(), [](const DueRun& a, const DueRun& b) {
    return a.scheduled_at != b.scheduled_at ? a.scheduled_at < b.scheduled_at : a.job < b.job;
  });
  return plan;
}

}  // namespace krond::scheduler
