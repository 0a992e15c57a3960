#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "config/job_file.h"
#include "scheduler/scheduler.h"

// What survives a scheduler failover: the last fired instant of every job, kept in the
// compacted <prefix>.state topic (key = job name) and written in the same Kafka transaction
// as the task messages it accounts for (docs/architecture.md, "High availability").
namespace krond::scheduler {

// One record of the state topic.
struct FireState {
  std::string job;
  SystemTime last_fired{};  // scheduled_at of the job's latest committed fire
};

// {"v":1,"job":"...","last_fired":"RFC 3339 ms"}
std::string EncodeFireState(const FireState& state);
[[nodiscard]] Result<FireState> DecodeFireState(std::string_view json);

// Last fired instant per job name.
using LastFired = std::unordered_map<std::string, SystemTime>;

// What a new active scheduler owes for the time nobody was firing.
struct CatchUpPlan {
  // Runs to fire now, in (scheduled_at, job) order; DueRun::job indexes `jobs`.
  std::vector<DueRun> runs;
  // Missed fires dropped because they are older than the job's starting_deadline.
  size_t dropped_by_deadline = 0;
  // Missed fires skipped by catch_up none|last.
  size_t skipped_by_policy = 0;
};

// Pure: for every job with an entry in `last_fired`, the fires in (last_fired, now] were
// missed. Those older than now - starting_deadline are dropped; then catch_up none skips
// the rest, last keeps the latest, all keeps every one. Jobs without an entry (new jobs,
// first start) owe nothing: they fire from `now` on. `@every` jobs count their missed
// fires from last_fired (anchored there). At most `max_per_job` fires are enumerated per
// job (the latest ones win for `last`; `all` keeps the oldest `max_per_job`).
CatchUpPlan PlanCatchUp(const std::vector<config::Job>& jobs, const LastFired& last_fired,
                        SystemTime now, size_t max_per_job = 100'000);

}  // namespace krond::scheduler
