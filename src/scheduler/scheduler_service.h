#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <string>

#include "common/clock.h"
#include "config/job_file.h"
#include "kafka/kafka.h"
#include "kafka/reliable_publisher.h"
#include "messages/run_messages.h"
#include "messages/topics.h"
#include "scheduler/job_catalog.h"
#include "scheduler/pause_set.h"
#include "scheduler/scheduler.h"
#include "scheduler/scheduler_metrics.h"

namespace krond::scheduler {

// Publishes every due run of a job file to its cluster's task topic, one message per run.
//
// Step(now) does one round of work and says when to call it next, so tests drive it in
// simulated time with a fake Producer; Run() is the real loop. A run whose produce fails
// (local queue full, topic missing, broker gone for good) is kept and produced again, so
// no run is dropped while the process lives (kafka::ReliablePublisher). Not thread-safe: one thread
// owns it.
class SchedulerService {
 public:
  SchedulerService(const Clock& clock, kafka::Producer& producer, SchedulerMetrics& metrics,
                   messages::TopicNames topics, config::JobFile file);

  // Publishes every run due at or before `now` and serves delivery reports. Returns the
  // instant of the next due run (or now + 1 s with nothing scheduled).
  SystemTime Step(SystemTime now);

  // Swaps in a reloaded job file (already validated); see Scheduler::Replace.
  void Replace(config::JobFile file, SystemTime now);

  // Fires of jobs paused in `pauses` are skipped (counted, not fired). Null: none paused.
  // `pauses` must outlive this service.
  void set_pauses(const PauseSet* pauses) { pauses_ = pauses; }

  // Runs Step until `stop()` is true, sleeping in the producer's Poll, and calls
  // `between_steps` (reload checks) at least once a second. Then flushes up to
  // `flush_timeout`; returns an error if runs were left unacknowledged.
  [[nodiscard]] Status Run(const std::function<bool()>& stop,
                           const std::function<void()>& between_steps,
                           std::chrono::milliseconds flush_timeout);

  // Path and clusters of the loaded file (its jobs live in the scheduler).
  const config::JobFile& file() const { return file_; }
  const std::vector<config::Job>& jobs() const { return scheduler_.jobs(); }
  size_t pending() const { return publisher_.Pending(); }
  uint64_t fired() const { return fired_; }

 private:
  messages::TaskMessage MakeTask(const config::Job& job, SystemTime scheduled_at,
                                 SystemTime now) const;
  // What firing needs besides the job, looked up once (CacheJobHandles) rather than per fire.
  struct ClusterHandles {
    metrics::Histogram* lag = nullptr;
    std::string task_topic;
  };
  struct JobHandles {
    metrics::Counter* fired;
    const ClusterHandles* cluster;  // in clusters_
  };
  void CacheJobHandles();
  void Send(const messages::TaskMessage& task, JobHandles m);
  void OnPublishFailure(const std::string& topic, const std::string& error);
  void UpdateGauges();

  const Clock& clock_;
  SchedulerMetrics& metrics_;
  messages::TopicNames topics_;
  config::JobFile file_;
  Scheduler scheduler_;
  kafka::ReliablePublisher publisher_;
  // Per job, same index as scheduler_.jobs().
  std::vector<JobHandles> job_handles_;
  // Every cluster ever loaded. Only grows (clusters are few), so that runs still in flight
  // after a reload keep valid pointers.
  std::map<std::string, ClusterHandles, std::less<>> clusters_;
  const PauseSet* pauses_ = nullptr;
  uint64_t fired_ = 0;
  // Publish failures not yet reported in a warning, and when the next warning may be logged.
  uint64_t failures_since_warning_ = 0;
  MonoTime next_failure_warning_{};
};

}  // namespace krond::scheduler
