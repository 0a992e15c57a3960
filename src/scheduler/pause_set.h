#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "config/job_file.h"
#include "control/pause_table.h"
#include "kafka/kafka.h"
#include "scheduler/scheduler.h"
#include "scheduler/scheduler_metrics.h"

// Pause and resume (docs/control.md): the scheduler's view of the control topic
// <prefix>.control, where the console writes one record per request (key = job name).
namespace krond::scheduler {

// Which jobs are paused: control::PauseTable (the records' one reader, shared with the
// worker's run gate; the latest record of a job wins, so the topic can be read again from its
// start without going back in time), and the fires it skips. Not thread-safe: the
// scheduler's thread owns it.
class PauseSet {
 public:
  // Applies one record of the control topic; an empty value (tombstone) resumes the job.
  // Errors for an undecodable record, which changes nothing (the caller logs it).
  [[nodiscard]] Status Apply(const kafka::ConsumedMessage& record) { return table_.Apply(record); }
  bool Paused(std::string_view job) const { return table_.Paused(job); }
  size_t paused_count() const { return table_.paused_count(); }

  // Moves the runs of paused jobs out of `runs` (order kept in both) and returns them.
  // `jobs` is what DueRun::job indexes.
  std::vector<DueRun> TakePaused(std::vector<DueRun>& runs,
                                 const std::vector<config::Job>& jobs) const;

 private:
  control::PauseTable table_;
};

// Keeps a PauseSet current from a consumer of the control topic. The consumer has a group of
// its own and reads from the beginning (auto.offset.reset=earliest, never commits), so a
// restarted scheduler rebuilds the set. Not thread-safe.
class ControlFeed {
 public:
  ControlFeed(kafka::Consumer& consumer, PauseSet& pauses, SchedulerMetrics& metrics,
              std::string topic);
  [[nodiscard]] Status Start();
  // Applies every record that has arrived, waiting at most `timeout` for the first; returns
  // how many were applied.
  size_t Poll(std::chrono::milliseconds timeout = std::chrono::milliseconds(0));

 private:
  kafka::Consumer& consumer_;
  PauseSet& pauses_;
  SchedulerMetrics& metrics_;
  std::string topic_;
};

}  // namespace krond::scheduler
