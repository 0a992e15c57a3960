#include "scheduler/scheduler.h"

#include <algorithm>
#include <iterator>
#include <numeric>

namespace krond::scheduler {
namespace {

// Indices of `jobs` in order of name.
std::vector<uint32_t> OrderByName(const std::vector<config::Job>& jobs) {
  std::vector<uint32_t> order(jobs.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&jobs](uint32_t a, uint32_t b) { return jobs[a].name < jobs[b].name; });
  return order;
}

// The latest fire of `job` (anchored) in (now, pending) that was dispatched ahead of `now`,
// `pending` being its next fire still queued (nullopt: none). Every fire before the pending
// one was taken from the queue, that is published, however far ahead the job dispatched
// then: a dispatch_ahead shrunk by an earlier reload does not hide a run sent under the
// larger one. So a changed schedule must not fire them again. No run is dispatched more
// than kMaxDispatchAhead ahead, which bounds the walk.
std::optional<SystemTime> LastDispatchedAhead(const config::Job& job,
                                              std::optional<SystemTime> pending, SystemTime now) {
  std::optional<SystemTime> last;
  for (std::optional<SystemTime> t = job.schedule.Next(now);
       t && *t <= now + config::kMaxDispatchAhead && (!pending || *t < *pending);
       t = job.schedule.Next(*t)) {
    last = t;
  }
  return last;
}

}  // namespace

Scheduler::Scheduler(std::vector<config::Job> jobs, SystemTime start,
                     std::chrono::milliseconds dispatch_ahead)
    : jobs_(std::move(jobs)), anchor_(start), dispatch_ahead_(dispatch_ahead) {
  Rebuild(start, {});
}

void Scheduler::Rebuild(SystemTime now, std::span<const std::optional<SystemTime>> kept) {
  queue_.Reserve(jobs_.size());
  for (uint32_t i = 0; i < jobs_.size(); ++i) {
    jobs_[i].schedule = jobs_[i].schedule.AnchoredAt(anchor_);
    std::optional<SystemTime> next =
        i < kept.size() && kept[i] ? kept[i] : jobs_[i].schedule.Next(now);
    if (next) queue_.Push(*next, i, DispatchAheadOf(jobs_[i]));
  }
}

std::vector<DueRun> Scheduler::Tick(SystemTime now) {
  if (!removed_.empty() && now >= removed_expire_) std::vector<RemovedJobRun>().swap(removed_);
  std::vector<DueRun> due;
  while (!queue_.Empty() && queue_.TopTime() <= now) {
    const uint32_t job = queue_.TopJob();
    const SystemTime at = queue_.TopAt();
    queue_.Pop();
    due.push_back({job, at});
    if (std::optional<SystemTime> next = jobs_[job].schedule.Next(at)) {
      queue_.Push(*next, job, DispatchAheadOf(jobs_[job]));
    }
  }
  return due;
}

std::optional<SystemTime> Scheduler::NextDispatchTime() const {
  if (queue_.Empty()) return std::nullopt;
  return queue_.TopTime();
}

std::optional<SystemTime> Scheduler::NextFireOf(const std::string& job) const {
  for (uint32_t i = 0; i < jobs_.size(); ++i) {
    if (jobs_[i].name != job) continue;
    for (const FireQueue::Entry& e : queue_.Entries()) {
      if (e.job == i) return e.at();
    }
    return std::nullopt;
  }
  return std::nullopt;
}

void Scheduler::StartAfter(std::span<const std::optional<SystemTime>> handled, SystemTime now,
                           std::vector<RemovedJobRun> removed) {
  anchor_ = now;
  removed_ = std::move(removed);
  ForgetExpiredRemoved(now);
  std::vector<std::optional<SystemTime>> kept(jobs_.size());
  for (uint32_t i = 0; i < jobs_.size() && i < handled.size(); ++i) {
    if (!handled[i] || *handled[i] <= now) continue;
    kept[i] = jobs_[i].schedule.AnchoredAt(anchor_).Next(*handled[i]);
  }
  Rebuild(now, kept);
}

void Scheduler::Replace(std::vector<config::Job> jobs, SystemTime now) {
  // The queue holds exactly the jobs with a pending fire, one entry each.
  std::vector<std::optional<SystemTime>> pending(jobs_.size());
  for (const FireQueue::Entry& e : queue_.Entries()) pending[e.job] = e.at();
  // Old and new jobs are matched by name by merging the two sets sorted by name (names are
  // unique in a job file). Hash maps of the names cost about 130 MB for a million jobs,
  // which stayed resident after the reload; this needs 40 MB, freed with the vectors.
  const std::vector<uint32_t> old_order = OrderByName(jobs_);
  const std::vector<uint32_t> new_order = OrderByName(jobs);
  std::vector<std::optional<SystemTime>> kept(jobs.size());
  // Jobs this reload removes that have a run dispatched ahead, in order of name.
  std::vector<RemovedJobRun> removed;
  // Walks removed_ (sorted by name) along the added jobs.
  size_t r = 0;
  for (size_t o = 0, n = 0; o < old_order.size() || n < new_order.size();) {
    const config::Job* before = o < old_order.size() ? &jobs_[old_order[o]] : nullptr;
    const config::Job* after = n < new_order.size() ? &jobs[new_order[n]] : nullptr;
    if (after == nullptr || (before != nullptr && before->name < after->name)) {
      // Removed: a run it dispatched ahead is published, and the worker holds it until its
      // instant. Kept so that the job, if added back before then, does not fire it again.
      if (std::optional<SystemTime> last =
              LastDispatchedAhead(*before, pending[old_order[o]], now)) {
        removed.push_back({before->name, *last});
      }
      ++o;
    } else if (before == nullptr || after->name < before->name) {
      // Added: one removed by an earlier reload resumes after the run it had dispatched.
      while (r < removed_.size() && removed_[r].job < after->name) ++r;
      if (r < removed_.size() && removed_[r].job == after->name) {
        if (removed_[r].at > now) {
          kept[new_order[n]] = after->schedule.AnchoredAt(anchor_).Next(removed_[r].at);
        }
        removed_[r].at = SystemTime::min();  // back in the job set: forgotten below
      }
      ++n;
    } else {
      if (after->schedule.text() == before->schedule.text() &&
          after->timezone == before->timezone) {
        kept[new_order[n]] = pending[old_order[o]];
      } else if (std::optional<SystemTime> last =
                     LastDispatchedAhead(*before, pending[old_order[o]], now)) {
        kept[new_order[n]] = after->schedule.AnchoredAt(anchor_).Next(*last);
      }
      ++o;
      ++n;
    }
  }
  // The names of removed_ and `removed` are disjoint: removed_ holds no job of jobs_.
  std::vector<RemovedJobRun> remembered;
  remembered.reserve(removed_.size() + removed.size());
  std::merge(std::make_move_iterator(removed_.begin()), std::make_move_iterator(removed_.end()),
             std::make_move_iterator(removed.begin()), std::make_move_iterator(removed.end()),
             std::back_inserter(remembered),
             [](const RemovedJobRun& a, const RemovedJobRun& b) { return a.job < b.job; });
  removed_ = std::move(remembered);
  ForgetExpiredRemoved(now);
  jobs_ = std::move(jobs);
  Rebuild(now, kept);
}

void Scheduler::ForgetExpiredRemoved(SystemTime now) {
  std::erase_if(removed_,
                [now](const RemovedJobRun& d) { return d.at <= now - config::kMaxDispatchAhead; });
  removed_expire_ = SystemTime::min();
  for (const RemovedJobRun& d : removed_) {
    removed_expire_ = std::max(removed_expire_, d.at + config::kMaxDispatchAhead);
  }
}

}  // namespace krond::scheduler
