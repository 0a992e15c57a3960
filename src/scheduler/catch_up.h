#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "config/job_file.h"
#include "messages/scheduler_records.h"
#include "scheduler/scheduler.h"

// What a scheduler restores when it becomes active, and what it owes for the time nobody was
// firing (docs/architecture.md, "One scheduler mode").
namespace krond::scheduler {

// Per job (same index as the job list): the latest scheduled instant whose fate is decided,
// from the state topic; nullopt for a job the topic does not know (new, or first start).
using HandledThrough = std::vector<std::optional<SystemTime>>;

// The state topic, folded onto one job list.
struct RestoredState {
  HandledThrough handled;
  // The greatest fence committed for any job, removed jobs included: fences continue above.
  int64_t fence = 0;
  // Jobs not in the list whose latest record is after the restorer's `since`, in order of
  // name (for Scheduler::StartAfter): a removed job's run may be held by a worker still.
  std::vector<RemovedJobRun> removed;
  size_t records = 0;
  size_t undecodable = 0;
};

// Folds the records of <prefix>.state, in any order, onto `jobs` without a map of names: jobs
// are looked up in a name-sorted index (4 bytes a job), so restoring a million jobs needs
// ~25 MB beyond the jobs, not a hash map of every name. Records of jobs not in the list are
// kept only when their instant is after `since`, so their memory is bounded by the records
// of the last moments, not by every job ever removed. Not thread-safe.
class StateRestorer {
 public:
  StateRestorer(const std::vector<config::Job>& jobs, SystemTime since);
  // One record's value; an undecodable one is counted and ignored.
  void Add(std::string_view value);
  RestoredState Take();

 private:
  const std::vector<config::Job>& jobs_;
  SystemTime since_;
  std::vector<uint32_t> by_name_;
  RestoredState state_;
};

// Scheduled instants of one job that were not fired, all for one reason.
struct SkipRange {
  uint32_t job = 0;
  messages::SkipReason reason = messages::SkipReason::kCatchUp;
  SystemTime first{};
  SystemTime last{};
  int64_t count = 0;  // -1: not counted (kCatchUpLimit)
};

struct CatchUpOptions {
  // Set when the previous active scheduler resigned (a clean stop) and said it had fired
  // everything due through this instant: what fell due since is a hand-over, not an outage,
  // so it fires whatever the job's catch_up says (starting_deadline still applies).
  std::optional<SystemTime> handover_since;
  // Most missed fires enumerated per job. Default: 100,000 (a day of a job firing every
  // second). `all` fires the oldest ones; the rest is a kCatchUpLimit skip.
  size_t max_per_job = 100'000;
};

// What a new active scheduler owes for the time nobody was firing.
struct CatchUpPlan {
  // Runs to fire now, in (scheduled_at, job) order; DueRun::job indexes the jobs.
  std::vector<DueRun> runs;
  // Missed fires not fired, at most two ranges a job (deadline, then policy or limit).
  std::vector<SkipRange> skips;
  size_t dropped_by_deadline = 0;
  size_t skipped_by_policy = 0;
  // The latest instant decided per job with any missed fire (for its state record), as
  // (job, instant) pairs.
  std::vector<std::pair<uint32_t, SystemTime>> decided;
};

// Pure: for every job with a handled instant, the fires in (handled, now] were missed.
// Those older than now - starting_deadline are dropped; then catch_up none skips the rest,
// last fires the latest, all fires every one (oldest first). Jobs without state owe
// nothing: they fire from `now` on. `@every` jobs count their missed fires from the handled
// instant (anchored there).
CatchUpPlan PlanCatchUp(const std::vector<config::Job>& jobs,
                        std::span<const std::optional<SystemTime>> handled, SystemTime now,
                        const CatchUpOptions& options = {});

}  // namespace krond::scheduler
