#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/clock.h"
#include "config/job_file.h"
#include "scheduler/fire_queue.h"

namespace krond::scheduler {

// One run that is due: job `job` (index into jobs()) at `scheduled_at`.
struct DueRun {
  uint32_t job = 0;
  SystemTime scheduled_at{};
  bool operator==(const DueRun&) const = default;
};

// The latest run of a job that is not in the job set, from a time when it was (by name): it
// may have been dispatched ahead, and a worker may hold it until its instant.
struct RemovedJobRun {
  std::string job;
  SystemTime at{};
};

// Decides which runs are due, in simulated or real time alike: the caller passes `now`.
// Pure logic, no I/O, not thread-safe (the scheduler service owns it on one thread).
//
// A run is due for dispatch its job's dispatch-ahead before its instant (the job's
// `dispatch_ahead:`, else the scheduler's default; docs/architecture.md, "Dispatch ahead"):
// with 0 it is due at the instant itself.
//
// Every job has exactly one pending fire in the queue; Tick pops every fire due for dispatch
// at or before `now`, returns it, and pushes that job's next fire. So a run is never skipped,
// however late Tick is called: a late Tick returns all the runs it missed, in dispatch order.
class Scheduler {
 public:
  // Jobs fire strictly after `start`; `@every` jobs are anchored at `start`. `dispatch_ahead`:
  // the default of jobs without `dispatch_ahead:`. Requires: 0..config::kMaxDispatchAhead.
  Scheduler(std::vector<config::Job> jobs, SystemTime start,
            std::chrono::milliseconds dispatch_ahead = {});

  // Every run due for dispatch at or before `now` (scheduled_at - its job's dispatch-ahead
  // <= now), in (dispatch time, job) order.
  std::vector<DueRun> Tick(SystemTime now);

  // When the next run is due for dispatch (the `now` at which Tick returns it); nullopt when
  // there are no jobs.
  std::optional<SystemTime> NextDispatchTime() const;
  // How long before its instant a run of jobs()[job] is dispatched.
  std::chrono::milliseconds DispatchAheadOf(uint32_t job) const {
    return DispatchAheadOf(jobs_[job]);
  }
  // The next fire of one job by name (for tests and `status`); nullopt if unknown. O(n).
  std::optional<SystemTime> NextFireOf(const std::string& job) const;

  // Replaces the job set (a reloaded file). A job whose name, schedule and zone are
  // unchanged keeps its pending fire, so reloading never fires a run twice or skips one
  // (a changed dispatch_ahead only moves its dispatch); new or changed jobs fire strictly
  // after `now`, and a changed one also after the last run it had dispatched ahead under its
  // old schedule. A removed job's last run dispatched ahead is remembered until its instant
  // has passed: a job of that name added back meanwhile (by this or a later Replace)
  // resumes after it, as a changed job does, so removing and adding back a job within its
  // dispatch-ahead does not fire that run twice.
  void Replace(std::vector<config::Job> jobs, SystemTime now);

  // Restarts every job's schedule after `now`, re-anchoring `@every` jobs there, except
  // jobs whose `handled` instant (same index as jobs(); may be shorter) is later than now (a
  // previous scheduler's clock ran ahead, or it dispatched ahead): those resume after it, so
  // no scheduled instant is fired twice. `removed` (sorted by name, none of jobs()): the
  // latest run another scheduler recorded for jobs this set does not have; they are
  // remembered as Replace remembers the jobs it removes, in place of anything remembered
  // before, so a job added back before such a run's instant does not fire it again.
  void StartAfter(std::span<const std::optional<SystemTime>> handled, SystemTime now,
                  std::vector<RemovedJobRun> removed = {});

  const std::vector<config::Job>& jobs() const { return jobs_; }
  // How many removed jobs' runs dispatched ahead are remembered (see Replace): for tests.
  size_t RemovedRemembered() const { return removed_.size(); }

 private:
  std::chrono::milliseconds DispatchAheadOf(const config::Job& job) const {
    return job.dispatch_ahead ? std::chrono::milliseconds(job.dispatch_ahead->count())
                              : dispatch_ahead_;
  }
  // Re-anchors every job and queues its next fire after `now`, or kept[i] where that is
  // set (`kept` is empty or has one entry per job).
  void Rebuild(SystemTime now, std::span<const std::optional<SystemTime>> kept);
  // Drops what removed_ need not remember at `now` and sets removed_expire_.
  void ForgetExpiredRemoved(SystemTime now);

  std::vector<config::Job> jobs_;
  SystemTime anchor_;
  std::chrono::milliseconds dispatch_ahead_;
  // The pending fire of every job that has one, and nothing else: a job's pending fire is
  // looked up here (NextFireOf, Replace) rather than mirrored per job.
  FireQueue queue_;
  // The latest run dispatched ahead of each removed job that had one, sorted by name; no
  // job of jobs_ is here. Bounded: an entry is dropped kMaxDispatchAhead after its instant
  // (the margin covers a wall clock stepping back), so it outlives its job's removal by at
  // most twice kMaxDispatchAhead, and Tick frees the vector once every entry has expired.
  std::vector<RemovedJobRun> removed_;
  SystemTime removed_expire_{};  // when every entry of removed_ has expired
};

}  // namespace krond::scheduler
