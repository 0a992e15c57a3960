#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "config/job_file.h"
#include "kafka/kafka.h"
#include "messages/run_messages.h"
#include "messages/topics.h"
#include "scheduler/fire_state.h"
#include "scheduler/job_catalog.h"
#include "scheduler/pause_set.h"
#include "scheduler/scheduler.h"
#include "scheduler/scheduler_metrics.h"

namespace krond::scheduler {

struct HaOptions {
  // Longest wait of one blocking transactional call (init, commit, abort). Default: 10 s.
  std::chrono::milliseconds txn_timeout{10'000};
  // Delay before a failed transaction or takeover is tried again. Default: 500 ms.
  std::chrono::milliseconds retry_delay{500};
  // After being fenced while still believing to lead, wait this long before taking over
  // again (the group needs up to a session timeout to tell us we lost). Default: 15 s.
  std::chrono::milliseconds fenced_holdoff{15'000};
};

// The exactly-once firing loop of one scheduler replica (docs/architecture.md, "High
// availability and exactly-once firing").
//
// While this replica leads (SetLeader(true), from a LeaderElector), Step fires every due run
// in one Kafka transaction per batch: the task messages plus, per job, a record of its last
// fired instant on the compacted state topic. A batch counts as fired only once its commit
// succeeded; a failed commit is aborted and the same runs (same run ids) are sent again in a
// new transaction, together with runs that fell due meanwhile. So a fire is visible to
// read_committed readers (workers) exactly when its state record is.
//
// Becoming active ("takeover") creates a producer with the shared transactional.id, whose
// InitTransactions fences any older active replica and aborts its open transaction, then
// reads the state topic (read_committed) and fires what PlanCatchUp owes for the gap.
// Losing leadership or being fenced stops firing at once and drops the uncommitted batch
// (the next leader owes it through catch-up).
//
// Step-driven in simulated time with fakes: the producer and the state reader are injected.
// Not thread-safe: one thread owns it.
class HaScheduler {
 public:
  using ProducerFactory = std::function<Result<std::unique_ptr<kafka::TransactionalProducer>>()>;
  // Every record of the state topic, read_committed, up to its end.
  using StateReader = std::function<Result<std::vector<kafka::ConsumedMessage>>()>;

  HaScheduler(const Clock& clock, ProducerFactory new_producer, StateReader read_state,
              SchedulerMetrics& metrics, messages::TopicNames topics, config::JobFile file,
              HaOptions options = {});
  ~HaScheduler();

  // Whether the election says this replica leads; false stops firing at once.
  void SetLeader(bool leader);
  // One round of work at `now`; returns when to call again.
  SystemTime Step(SystemTime now);
  // Swaps in a reloaded, validated job file (see Scheduler::Replace).
  void Replace(config::JobFile file, SystemTime now);
  // Stops firing (aborting an open transaction); for a clean shutdown.
  void Stop();
  // Fires of jobs paused in `pauses` are skipped inside the fire transaction: counted, not
  // fired, but still recorded as the job's last fired instant, so neither a resume nor a
  // failover fires them later (docs/control.md). Null: none paused. Must outlive this.
  void set_pauses(const PauseSet* pauses) { pauses_ = pauses; }

  bool active() const { return active_; }
  uint64_t fired() const { return fired_; }
  // Runs taken from the schedule and not committed yet.
  size_t pending() const { return batch_.size(); }
  const std::vector<config::Job>& jobs() const { return jobs_; }
  const config::JobFile& file() const { return file_; }

 private:
  enum class Txn { kNone, kCommitting, kAborting };
  bool TakeOver(SystemTime now);
  // Adds `runs` to the batch, moving those of paused jobs to skipped_.
  void Queue(std::vector<DueRun> runs, SystemTime now);
  void Deactivate(const std::string& why, bool fenced);
  // Handles a failed transactional call; returns the next wake-up.
  SystemTime Failed(const kafka::TxnError& error, SystemTime now);
  void Committed(SystemTime now);
  void UpdateGauges();

  const Clock& clock_;
  ProducerFactory new_producer_;
  StateReader read_state_;
  SchedulerMetrics& metrics_;
  messages::TopicNames topics_;
  config::JobFile file_;  // path and clusters; the jobs are in jobs_
  std::vector<config::Job> jobs_;
  HaOptions options_;

  bool leader_ = false;
  bool active_ = false;
  std::optional<MonoTime> holdoff_until_;
  std::unique_ptr<kafka::TransactionalProducer> producer_;
  std::optional<Scheduler> scheduler_;
  // Runs of the current (or next) transaction, in fire order.
  std::vector<messages::TaskMessage> batch_;
  // Last instant per job of the paused fires skipped since the last commit: written to the
  // state topic with the next transaction, as if fired.
  std::map<std::string, SystemTime> skipped_;
  const PauseSet* pauses_ = nullptr;
  Txn txn_ = Txn::kNone;
  uint64_t fired_ = 0;
};

}  // namespace krond::scheduler
