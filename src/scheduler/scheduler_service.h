#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "config/job_file.h"
#include "kafka/kafka.h"
#include "messages/run_messages.h"
#include "messages/scheduler_records.h"
#include "messages/signed_task.h"
#include "messages/topics.h"
#include "scheduler/catch_up.h"
#include "scheduler/lease.h"
#include "scheduler/pause_set.h"
#include "scheduler/scheduler.h"
#include "scheduler/scheduler_metrics.h"

namespace krond::scheduler {

struct ServiceOptions {
  LeaseOptions lease;
  // This replica's name in lease records and logs, unique per process (host:pid:nonce).
  // Requires: non-empty.
  std::string owner;
  // Seeds the lease jitter; differs per replica. Default: 0 (tests).
  uint64_t seed = 0;
  // Longest one transactional call (init, commit, abort) blocks the loop; a call that times
  // out is made again on the next step, so a stop request is noticed at least this often.
  // Default: 2 s.
  std::chrono::milliseconds txn_call_timeout{2'000};
  // Most fires in one transaction: a second's burst of 100,000 jobs commits in several, so
  // every commit (and the heartbeat in it) stays short. Default: 20,000.
  size_t max_fires_per_transaction = 20'000;
  // Delay before a failed takeover or an aborted transaction is tried again. Default: 500 ms.
  std::chrono::milliseconds retry_delay{500};
  // Longest the state topic may take to read at takeover. Default: 60 s.
  std::chrono::milliseconds state_read_timeout{60'000};
  // How long before its scheduled instant a run is published, for jobs without
  // `dispatch_ahead:` (docs/architecture.md, "Dispatch ahead"). The task is unchanged: it
  // carries scheduled_at, and the worker holds an early task until then. Default: 0, publish
  // at the instant (the library's behaviour before lookahead; `krond scheduler` passes its
  // --dispatch-ahead, 2 s unless given). Requires: 0..config::kMaxDispatchAhead.
  std::chrono::milliseconds dispatch_ahead{0};
  // Signs every fire (messages/signed_task.h; --task-signing-key). Default: no key, tasks
  // are produced unsigned.
  messages::TaskSigner signer;
};

// What Stop did with the runs it had not committed.
struct StopReport {
  bool was_active = false;
  size_t committed = 0;             // runs committed by the final transaction
  size_t uncommitted = 0;           // runs left to the next active scheduler's catch-up
  std::string uncommitted_summary;  // e.g. "backup 2026-…Z..2026-…Z (3), report …"
  bool lost_lead = false;           // fenced while stopping: the new active scheduler owes them
};

// krond's one scheduler (docs/architecture.md, "One scheduler mode"): any number of replicas
// run it with the same flags; one is active and fires, the others stand by.
//
// Standby: follows the lease topic (LeaseWatch) and, when the lease expires, takes over:
// InitTransactions on the shared transactional.id (fencing any older active scheduler and
// aborting its open transaction), a heartbeat-only transaction that tells the other standbys,
// the state topic read into the job list (StateRestorer), and PlanCatchUp for the gap.
//
// Active: fires every due run in Kafka transactions of at most max_fires_per_transaction
// runs: the task messages, a state record per job (its last fire and fence), skip records
// for what catch-up or the broker left unfired, and a heartbeat. A run counts as fired only
// when its transaction committed; an aborted transaction is sent again with the same run
// ids. A task the broker can never accept (too large, unauthorized, unknown topic) is taken
// out of the transaction and recorded as skipped, so the other runs still fire. A commit
// that fails for want of Kafka is retried for as long as it takes (the runs fire late, none
// is lost); being fenced makes it a standby again, and its uncommitted runs are owed by the
// next active scheduler's catch-up.
//
// Step-driven in simulated time with fakes (producer factory, state reader, lease follower
// injected); Run is the real loop. Not thread-safe: one thread owns it.
class SchedulerService {
 public:
  using ProducerFactory = std::function<Result<std::unique_ptr<kafka::TransactionalProducer>>()>;
  // Calls the callback for every record of the state topic, read_committed, up to its end,
  // and fails if the callback returns false.
  using StateReader =
      std::function<Status(const std::function<bool(const kafka::ConsumedMessage&)>&)>;

  // `lease` follows <prefix>.leader from a few records before its end; it must outlive this.
  SchedulerService(const Clock& clock, ProducerFactory new_producer, StateReader read_state,
                   kafka::PartitionFollower& lease, SchedulerMetrics& metrics,
                   messages::TopicNames topics, config::JobFile file, ServiceOptions options);
  ~SchedulerService();
  SchedulerService(const SchedulerService&) = delete;
  SchedulerService& operator=(const SchedulerService&) = delete;

  // One round of work at `now` (wall clock; durations use the clock's monotonic time).
  // Returns when to call again.
  SystemTime Step(SystemTime now);
  // Waits up to `max` for something to do: a standby blocks on the lease topic, the active
  // scheduler serves its producer.
  void Wait(std::chrono::milliseconds max);
  // Swaps in a reloaded, validated job file (see Scheduler::Replace): unchanged jobs keep
  // their pending fire, so a reload neither skips nor doubles a run.
  void Replace(config::JobFile file, SystemTime now);
  // A clean stop: an active scheduler commits what it has taken from the schedule together
  // with a resigned heartbeat, so a standby takes over at once; after `deadline` it gives up
  // (aborting) and reports what it left uncommitted, which the next active scheduler owes
  // through its catch-up. Then it is a standby that never takes over again.
  StopReport Stop(std::chrono::milliseconds deadline);
  // Fires of jobs paused in `pauses` (docs/control.md) are skipped inside the fire
  // transaction: counted (fires_skipped{reason="paused"}), written to the skips topic with
  // reason "paused", and recorded in the job's state record as decided, so neither a resume
  // nor a takeover fires them later. Also applies to catch-up runs at takeover. Null: none
  // paused. `pauses` must outlive this service.
  void set_pauses(const PauseSet* pauses) { pauses_ = pauses; }

  // Runs Step until `stop()` is true, waiting in Wait, and calls `between_steps` (reloads,
  // liveness) at least once a second; then Stop(shutdown_timeout), logging its report.
  void Run(const std::function<bool()>& stop, const std::function<void()>& between_steps,
           std::chrono::milliseconds shutdown_timeout);

  bool active() const { return active_; }
  uint64_t fired() const { return fired_; }
  // Runs taken from the schedule and not committed yet.
  size_t pending() const { return batch_.fires.size() + ready_.size() + due_.size(); }
  const std::vector<config::Job>& jobs() const { return scheduler_.jobs(); }
  const config::JobFile& file() const { return file_; }

 private:
  enum class Txn { kNone, kCommitting, kAborting };
  // What firing a job needs besides the job, looked up once (CacheHandles), not per fire.
  struct ClusterHandles {
    metrics::Histogram* lag = nullptr;
    std::string task_topic;
  };
  struct JobHandles {
    metrics::Counter* fired = nullptr;
    const ClusterHandles* cluster = nullptr;  // in clusters_
  };
  // One run of the current transaction, encoded once so a retry sends the same bytes.
  struct Fire {
    std::string run_id;
    std::string job;
    SystemTime scheduled_at{};
    // When it was due for dispatch: scheduled_at minus its job's dispatch-ahead. Fire lag
    // is measured from here.
    SystemTime dispatch_at{};
    int64_t fence = 0;
    std::string value;
    JobHandles handles;
    // Set when Kafka can never accept the task; `recorded` once its skip record is made.
    std::optional<kafka::ProduceErrorKind> rejected;
    std::string rejection;
    bool recorded = false;
  };
  // Everything one transaction writes besides the heartbeat.
  struct Batch {
    std::vector<Fire> fires;
    std::vector<messages::SkipRecord> skips;
    // Per job: the latest instant decided by catch-up without a fire (state records).
    std::map<std::string, SystemTime> decided;
    // Per job: its "paused" record in `skips`, which the batch's later paused fires extend.
    std::unordered_map<std::string, size_t> paused;
    bool empty() const { return fires.empty() && skips.empty() && decided.empty(); }
  };

  SystemTime StepStandby(SystemTime now);
  SystemTime StepActive(SystemTime now);
  // Reads lease records, blocking up to `first_wait` for the first.
  void FollowLease(std::chrono::milliseconds first_wait);
  void HandleLeaseRecord(const kafka::ConsumedMessage& m);
  // Creates the producer of the next takeover (kept in initializing_) and looks up its
  // topics; false if it cannot be created.
  bool PrepareProducer();
  // Returns false to try again later.
  bool TakeOver(SystemTime now);
  void Deactivate(const std::string& why, bool fenced);
  // One transactional step of the active scheduler: abort, begin and produce, or commit.
  // `resign` (Stop): the last batch carries a resigned heartbeat.
  SystemTime Advance(SystemTime now, bool resign, std::chrono::milliseconds call_timeout);
  SystemTime IdleWake(SystemTime now) const;
  // Ticks the schedule at `now` and moves due runs into the batch, up to its size limit.
  void FillBatch(SystemTime now);
  Fire MakeFire(uint32_t job, SystemTime scheduled_at, SystemTime now);
  // Takes the runs of paused jobs out of `runs` and records them in the batch as skipped.
  void SkipPaused(std::vector<DueRun>& runs, SystemTime now);
  // Produces the batch's records and the heartbeat into the open transaction.
  kafka::TxnStatus ProduceBatch(SystemTime now, bool resign);
  kafka::TxnStatus ProduceHeartbeat(SystemTime now, bool resign);
  // A transaction holding only a heartbeat (claim, state read).
  kafka::TxnStatus CommitHeartbeat(SystemTime now);
  // A record of the scheduler's own topics failed: the transaction must be aborted.
  kafka::TxnStatus RecordFailure(const std::string& topic, const kafka::ProduceError& error);
  void OnDelivery(uint64_t tag, const kafka::DeliveryReport& report);
  // Logs and counts a fire Kafka can never accept, and records it as skipped.
  void Reject(Fire& fire);
  // Handles a failed transactional call; returns the next wake-up.
  SystemTime Failed(const kafka::TxnError& error, SystemTime now);
  void Committed(SystemTime now);
  void CacheHandles();
  void UpdateGauges();
  std::chrono::milliseconds Until(MonoTime t) const;
  // The uncommitted runs per job, for a log line.
  std::string Summary() const;

  const Clock& clock_;
  ProducerFactory new_producer_;
  const PauseSet* pauses_ = nullptr;
  StateReader read_state_;
  kafka::PartitionFollower& lease_follower_;
  SchedulerMetrics& metrics_;
  messages::TopicNames topics_;
  config::JobFile file_;  // path and clusters; the jobs are in scheduler_
  ServiceOptions options_;
  Scheduler scheduler_;
  LeaseWatch watch_;

  bool active_ = false;
  bool stopped_ = false;
  bool resigned_ = false;       // Stop committed the resigned heartbeat
  bool batch_resigns_ = false;  // the open transaction carries it
  bool seen_own_heartbeat_ = false;
  bool lease_lapsed_ = false;    // warned that nothing committed for a lease timeout
  bool init_timed_out_ = false;  // initializing_ is a producer whose InitTransactions timed out
  std::unique_ptr<kafka::TransactionalProducer> producer_;
  // The producer of the next takeover: made while standing by, and kept when its
  // InitTransactions timed out (the next attempt continues with it).
  std::unique_ptr<kafka::TransactionalProducer> initializing_;
  std::optional<MonoTime> retry_at_;
  MonoTime last_commit_{};     // end of the last committed transaction (lease renewal)
  MonoTime last_heartbeat_{};  // start of the last transaction with a heartbeat
  int64_t fence_ = 0;          // the last fence handed out
  // Runs taken from the schedule and not in a transaction yet, in fire order: encoded ones
  // first (kept across a reload, which renumbers jobs), then by job index.
  std::deque<Fire> ready_;
  std::deque<DueRun> due_;
  Batch batch_;
  Txn txn_ = Txn::kNone;
  // Delivery reports of an older transaction are ignored: its records were purged.
  uint64_t generation_ = 0;
  uint64_t fired_ = 0;

  std::vector<JobHandles> job_handles_;  // same index as jobs()
  // Every cluster ever loaded; only grows, so handles in a batch stay valid across reloads.
  std::map<std::string, ClusterHandles, std::less<>> clusters_;
};

}  // namespace krond::scheduler
