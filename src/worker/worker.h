#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "exec/executor.h"
#include "kafka/kafka.h"
#include "kafka/reliable_publisher.h"
#include "messages/run_messages.h"
#include "messages/signed_task.h"
#include "messages/topics.h"
#include "worker/load.h"
#include "worker/offset_tracker.h"
#include "worker/worker_metrics.h"

namespace krond::worker {

// Worker settings. Plain struct; see Validate().
struct WorkerOptions {
  // The cluster whose runs this worker executes. Requires: non-empty.
  std::string cluster;
  // First attempts (main) or retries (retry). Default: main.
  messages::Queue queue = messages::Queue::kMain;
  // Runs executed at once. Default: 1. Requires: 1..1024.
  int slots = 1;
  // Identifies the worker in results. Default: host:pid (set by the command).
  std::string worker_id = "worker";
  // On stop, and when a rebalance takes a partition away, how long its running commands may
  // finish before they are cancelled (and their runs left uncommitted, so the partition's
  // next owner runs them again). Default: 30 s.
  std::chrono::milliseconds drain_timeout{30'000};
  // SIGTERM-to-SIGKILL grace when a run times out or is cancelled. Default: 5 s.
  std::chrono::milliseconds kill_grace{5'000};
  // On stop, once no command runs, how long the results, retries and dead letters still
  // unacknowledged may take (Kafka unreachable: they never go; their runs stay uncommitted
  // and are redelivered). Stop takes at most drain_timeout + kill_grace + flush_timeout,
  // plus the consumer's 3 s to leave its group. Default: 5 s.
  std::chrono::milliseconds flush_timeout{5'000};
  // Upper bound on any job's timeout (tasks always carry one, timeout_ms > 0; a longer one
  // is cut to this). Default: 24 h. Requires: > 0.
  std::chrono::milliseconds max_timeout{86'400'000};
  // Bytes of output kept per run (the tail). Default: 16 KiB. Requires: <= 64 MiB.
  size_t output_tail_bytes = 16 * 1024;
  // Resource limits applied to every run (rlimits, see docs/execution.md). Default: none.
  exec::ResourceLimits limits;
  // Load shedding: while the host's load per CPU (LoadSource) is above this, take no new
  // runs (runs in progress go on). Default: 0 = off. Requires: >= 0.
  double max_load = 0;
  // Where the load comes from. Default: SystemLoadPerCpu. Read at most once a second.
  LoadSource load_source;
  // Seeds retry jitter, so tests are repeatable. Default: 0 = random.
  uint64_t seed = 0;
  // Runs taken from Kafka ahead of a free slot. While fewer are held the partitions keep
  // flowing, so a busy worker does not pay a pause/resume round trip (a fresh fetch, about
  // 100 ms) per run; held runs are never committed past, so a crash loses none.
  // Default: 64. 0 = pause as soon as every slot is busy.
  size_t max_held = 64;
  // Messages taken from the consumer per Step once the first one arrived: a burst of due
  // runs is dispatched in one pass instead of paying the rest of a Step per run.
  // Default: 64. Requires: >= 1.
  size_t max_poll_batch = 64;
  // Finished offsets are committed at most this often (and always on revoke and stop).
  // A commit per run cost a broker request per run; a crash redelivers at most this much
  // more. Default: 100 ms. 0 = after every Step.
  std::chrono::milliseconds commit_interval{100};
  // The largest record (key and value) Kafka accepts: librdkafka's message.max.bytes, which
  // must not exceed the broker's and the topics' limits. Results and dead letters are cut to
  // fit (messages::EncodeWithin), so a run with a huge output or a huge task still reports.
  // Default: 1,000,000 (librdkafka's and about Kafka's default). Requires: >= 128 KiB.
  size_t max_message_bytes = 1'000'000;
  // The public keys whose signatures this worker trusts (docs/security.md, "Signed tasks"):
  // non-empty, every task must be a signed-task envelope verified by one of them, or it is
  // refused (an `invalid` result and a dead letter, never run). Empty: plain and signed
  // tasks are run unverified. Default: empty.
  std::vector<signing::PublicKey> trusted_keys;
  // Who unsandboxed commands of jobs without `user:` run as (--run-as): the cluster's default,
  // since a worker serves one cluster. Default: empty = the worker's own user.
  // Requires: empty or a valid user name.
  std::string run_as;
  // Refuse every unsandboxed run that would run as root (no user at all, or `root`): set by
  // a worker whose effective uid is 0 unless it was started with --allow-root. Such runs end
  // spawn_failed with the reason, counted in runs_refused{reason="root"}; nothing is run.
  // Sandboxed runs are not concerned: bubblewrap runs them as nobody in a user namespace, a
  // microVM as the root of its own kernel. Default: false.
  bool refuse_root = false;
  // Main queue: a run that arrives before its scheduled_at (the scheduler dispatches runs
  // ahead of their instant, docs/architecture.md "Dispatch ahead") is held in memory and
  // started at scheduled_at on this worker's clock. Past this many held, the partitions pause
  // until some have started (runs fetched before the pause took effect are still held), so
  // memory stays bounded. Default: 10,000 (a few MiB). Requires: >= 1.
  size_t max_early = 10'000;
  // The furthest ahead a run is held: one further out (a clock far off, a task not written
  // by krond) starts this long after it arrived, with a warning. Default: 60 s, the
  // scheduler's longest dispatch_ahead. Requires: > 0.
  std::chrono::milliseconds max_hold_ahead{60'000};
  // Asked at the start instant of a run held ahead: a reason ("paused", "removed") when its
  // job must no longer start (docs/control.md); the run is then skipped with that reason,
  // never run. Called on the poll thread. Default: none (every held run starts).
  std::function<std::optional<std::string>(std::string_view job)> cancel_early;
  // Whether cancel_early knows enough to answer: false until its source has read the pauses
  // and removals written before this worker started. A held run whose instant comes while it
  // is false stays held (neither started nor skipped) and is checked as usual once it is
  // true, its lateness counted from scheduled_at like any run's. Called on the poll thread.
  // Default: none (always ready).
  std::function<bool()> gate_ready;
  // The longest a held run waits past its instant for gate_ready (--control-wait): one still
  // waiting then is skipped, never run, with a warning (docs/control.md, "Held runs").
  // Default: 10 s. Requires: > 0.
  std::chrono::milliseconds gate_wait{10'000};
  [[nodiscard]] Status Validate() const;
};

// Consumes one cluster's task (or retry) topic and executes its runs on a pool of slots.
//
// The poll loop never blocks on a run: commands execute on slot threads, and the loop
// keeps polling (so the group membership lives however long a job runs). When every slot
// is busy, or a retry is not due yet, the partition is paused and rewound to the message
// in hand, so nothing fetched is lost and other partitions keep flowing.
//
// Delivery is at least once: a run's offset is committed only after its result (and its
// retry or dead letter) is acknowledged by Kafka, and commits never pass an unfinished run
// (OffsetTracker). Each commit also records which runs past it were started or finished, so
// that the partition's next owner runs a started run again even past its starting_deadline,
// and does not run a finished one again.
//
// A record Kafka refuses for good (too large for the topic, not authorized, ...) is replaced
// by a smaller one where that helps (a result without its output, a dead letter instead of a
// retry, a dead letter without its task), else dropped: logged with its job and run, counted
// (krond_worker_publish_refused_total, krond_worker_records_dropped_total), and its offset
// committed, so that one record never stalls a partition.
//
// One worker runs a job at a time in the whole cluster: the scheduler routes every run of a
// job to one partition (its job name is the partition key), so the concurrency policy
// (forbid, replace), applied here among this worker's runs, holds cluster-wide. A partition
// changes owner only after its runs here have ended: a revoke waits up to drain_timeout for
// them, then cancels them and waits for them to exit, leaving them uncommitted; the next
// owner starts after that. Not thread-safe: one thread calls Start, Step and Stop.
class Worker : public kafka::RebalanceListener {
 public:
  //
  // Runs go to `executor`, except runs whose task asks for sandbox "bubblewrap", which go to
  // `sandboxed` (the same executor when the worker sandboxes everything; a
  // LazySandboxExecutor otherwise), and runs that ask for "microvm", which go to `microvm`.
  // A run that asks for a sandbox whose executor is null, or for a sandbox kind this worker
  // does not know, is reported as spawn_failed and never started. All references must
  // outlive the worker.
  Worker(const Clock& clock, kafka::Consumer& consumer, kafka::Producer& producer,
         exec::Executor& executor, WorkerMetrics& metrics, messages::TopicNames topics,
         WorkerOptions options, exec::Executor* sandboxed = nullptr,
         exec::Executor* microvm = nullptr);
  ~Worker() override;

  // Subscribes to the topic. The topic may not exist yet: runs start flowing within
  // seconds of its creation.
  [[nodiscard]] Status Start();
  // One round: finishes completed runs, polls Kafka for up to `poll_timeout`, dispatches,
  // resumes partitions whose wait is over, commits.
  void Step(std::chrono::milliseconds poll_timeout);
  // Stops fetching, lets running commands finish up to drain_timeout, cancels the rest
  // (their runs stay uncommitted and are redelivered), publishes what finished for up to
  // flush_timeout (logging the run ids of what Kafka did not acknowledge, left to
  // redelivery), commits what was acknowledged, and leaves the group.
  void Stop();

  size_t running() const { return running_; }
  // Runs held until their scheduled_at.
  size_t early() const { return early_.size(); }
  // True while load shedding keeps the worker from taking new runs.
  bool overloaded() const { return overloaded_; }
  uint64_t completed() const { return completed_; }
  bool ready() const { return subscribed_; }

  // RebalanceListener. OnAssigned reads the partitions' commit metadata. OnRevoked returns
  // once the runs of the partitions have ended (finished within drain_timeout, or cancelled)
  // and what finished is committed; OnLost cancels them at once and commits nothing (the
  // partitions may have a new owner already).
  void OnAssigned(const std::vector<kafka::TopicPartition>& partitions) override;
  void OnRevoked(const std::vector<kafka::TopicPartition>& partitions) override;
  void OnLost(const std::vector<kafka::TopicPartition>& partitions) override;

 private:
  struct Run;
  struct Completion;
  using PartitionKey = std::pair<std::string, int32_t>;

  void OnMessage(kafka::ConsumedMessage message);
  // The starting deadline and the concurrency policy, applied when a run is taken and again
  // when a held run gets its slot. False: the run was skipped (reported and finished).
  bool Admit(const kafka::ConsumedMessage& message, const messages::TaskMessage& task);
  // Revoked or lost partitions: drops their held and parked messages, ends their runs
  // (waiting up to `wait`, then cancelling), commits unless lost, forgets them.
  void GiveUp(const std::vector<kafka::TopicPartition>& partitions, bool lost);
  void OnInvalid(const kafka::ConsumedMessage& message, const std::string& error);
  // Concurrency policy "forbid": reports the run as skipped (committed, never retried),
  // logged at info, or as a warning when `warn` (something an operator must look at).
  void Skip(const kafka::ConsumedMessage& message, const messages::TaskMessage& task,
            const std::string& reason, bool warn = false);
  // The same for a run past its starting_deadline, counted as missed.
  void SkipMissed(const kafka::ConsumedMessage& message, const messages::TaskMessage& task,
                  const std::string& reason);
  // Whether a new run may start now: a slot is free and the host is not overloaded.
  bool CanTake() const;
  // Pauses every partition while !CanTake(), resumes them when it holds again.
  void UpdatePause();
  // Launches held messages while slots are free.
  void TakeHeld();
  // Keeps a run that arrived before its scheduled_at until then (max_early, max_hold_ahead).
  void HoldEarly(kafka::ConsumedMessage message, messages::OpenedTask opened, SystemTime now);
  // Sleeps to the next early run's instant if it is nearer than the poll loop's wake-up
  // margin, then starts every early run that is due (or skips it, cancel_early). While the
  // gate is not ready, due runs stay held; those held gate_wait past their instant are
  // skipped.
  void StartDueEarly();
  // How long the consumer may block before the next early run is due, less the margin;
  // at most kGateRecheck while due runs wait for the gate.
  std::chrono::milliseconds UntilNextEarly(std::chrono::milliseconds poll_timeout) const;
  // Whether the first early run is due and waits for the gate (the last StartDueEarly
  // found it closed).
  bool WaitingForGate() const;
  // Re-reads the load (at most once a second) and sets overloaded_.
  void UpdateLoad();
  void Launch(kafka::ConsumedMessage message, messages::OpenedTask opened);
  // The retry message of attempt `next`: inside `envelope` (its outside fields) if the task
  // came signed, else the plain task.
  static std::string RetryValue(const messages::TaskMessage& next,
                                const std::optional<messages::SignedTask>& envelope);
  // Publishes the result of a run that ended, and its retry or dead letter, unless a
  // shutdown or rebalance cut it short (then it is left for redelivery).
  void Finish(Completion done);
  // Takes run `id` out of the running ones (null if it is not one).
  std::unique_ptr<Run> Release(uint64_t id);
  messages::ResultMessage ResultOf(const Run& run, const Completion& done);
  void DrainCompletions();
  // Parks `message`'s partition (a retry not due yet): rewinds it to the message and pauses
  // it until `until`. Runs waiting for a slot are held in memory instead (held_).
  void Defer(const kafka::ConsumedMessage& message, SystemTime until);
  void ResumeDue();
  void SetAllPaused(bool paused);
  void Commit();
  // Inherits the commit metadata of newly assigned partitions (OffsetTracker::Inherit).
  void ReadCommitNotes(const std::vector<kafka::TopicPartition>& partitions);
  // Commit() once commit_interval has passed since the last one.
  void CommitIfDue();
  messages::ResultMessage BaseResult(const messages::TaskMessage& task) const;

  // What a consumed message publishes: its result, and a retry or a dead letter.
  enum class RecordKind { kResult, kRetry, kDeadLetter };
  struct Record {
    RecordKind kind = RecordKind::kResult;
    std::string topic;
    std::string value;
    // Already the smallest form of its kind: nothing is left to publish in its place.
    bool minimal = false;
    // Empty: the run id key chooses the partition. Retries: the job (PartitionKeyOf).
    std::string partition_key;
  };
  // The records of one consumed message, until the last is done.
  struct Outbox {
    kafka::TopicPartition source;  // offset: the message's
    std::string key;               // run id
    messages::ResultMessage result;
    std::optional<messages::TaskMessage> task;  // the attempt's task; absent when invalid
    std::optional<messages::RawCopy> raw;       // the undecodable message
    // The envelope the task came in, if signed: retries and dead letters carry it unchanged.
    std::optional<messages::SignedTask> envelope;
    size_t remaining = 0;
  };
  // Publishes `records`, each keyed by `outbox.key`; marks the source offset finished once
  // every one is acknowledged or given up.
  void PublishThenFinish(std::shared_ptr<Outbox> outbox, std::vector<Record> records);
  void PublishRecord(const std::shared_ptr<Outbox>& outbox, Record record);
  // What to publish instead of `refused`, if anything helps.
  std::optional<Record> Replacement(const Outbox& outbox, const Record& refused,
                                    const kafka::ProduceError& error) const;
  Record ResultRecord(const messages::ResultMessage& result, bool minimal) const;
  Record DeadLetterRecord(const Outbox& outbox, std::string reason, bool minimal) const;
  // A failed run's next attempt, added to `records`; when it has none left or its outcome is
  // not retried, the reason it goes to the dead letters instead.
  std::optional<std::string> RetryOrDeadLetter(const Run& run, messages::Outcome outcome,
                                               SystemTime finished_at,
                                               std::vector<Record>& records);
  // Room for a record's value: the message limit less the key and librdkafka's overhead.
  size_t ValueBudget(const std::string& key) const;
  void FinishOne(const std::shared_ptr<Outbox>& outbox);

  const Clock& clock_;
  kafka::Consumer& consumer_;
  exec::Executor& executor_;
  exec::Executor* sandboxed_;
  exec::Executor* microvm_;
  WorkerMetrics& metrics_;
  messages::TopicNames topics_;
  WorkerOptions options_;
  kafka::ReliablePublisher publisher_;
  OffsetTracker tracker_;
  std::mt19937_64 rng_;

  // Partitions parked by Defer, with the instant to resume them and the message they wait at.
  struct Parked {
    SystemTime until;
    int64_t offset = 0;
  };
  std::map<PartitionKey, Parked> deferred_;
  // The message each resumed partition was parked at: it starts when it comes back.
  std::map<PartitionKey, int64_t> waited_;
  // Messages handed over while no slot was free (fetched before the pause took effect), in
  // arrival order. Kept here rather than rewound with a seek, because a rewound partition is
  // fetched again only after a broker round trip, which capped a busy worker at about ten
  // runs per second per slot. They count as started for OffsetTracker, so no commit passes
  // them; a revoke drops them (the new owner reads them again).
  struct Held {
    kafka::ConsumedMessage message;
    messages::OpenedTask task;
  };
  std::deque<Held> held_;
  // Runs that arrived before their instant, by the instant they start at (their
  // scheduled_at, or max_hold_ahead after they arrived). Like held_, they count as started
  // for OffsetTracker but not as launched: a partition's next owner runs them as new.
  std::multimap<SystemTime, Held> early_;
  // When due runs were last found waiting for the gate, until it is found ready: the runs
  // due by then waited (WorkerMetrics::gate_waits), and while the first of early_ is one of
  // them, the gate is what the worker waits for (WaitingForGate).
  std::optional<SystemTime> gate_waited_until_;
  bool all_paused_ = false;
  std::vector<kafka::TopicPartition> assigned_;

  // Runs go to `slots` long-lived slot threads: creating and tearing down a thread per run
  // (stack mmap, page faults, munmap) was most of the poll thread's work in a burst.
  // The command starts in Launch() when the executor can start it without blocking
  // (Executor::Begin); the slot thread waits for it, or spawns and waits.
  struct SlotTask {
    uint64_t id = 0;
    std::unique_ptr<exec::PendingRun> pending;  // null: refuse with `refused`
    std::string refused;
    exec::Refusal refusal = exec::Refusal::kNone;
  };
  // Sets spec.user for `t` (the job's user:, else run_as); a reason (and its refusal kind)
  // when the run must not start: root on a refuse_root worker, a user: with a sandbox.
  std::pair<std::string, exec::Refusal> ChooseUser(const messages::TaskMessage& t,
                                                   exec::RunSpec& spec) const;
  void SlotLoop();
  // Hands the runs Launch()ed since the last call to the slot threads. Waking a slot thread
  // per run in the middle of a burst let it (and the shell just handed a command) preempt
  // the poll thread before the next command started; a burst now starts all its commands
  // first and wakes the slot threads after.
  void ReleaseLaunched();

  std::mutex mu_;
  std::condition_variable slot_wake_;
  std::vector<SlotTask> launched_;       // poll thread only
  std::deque<SlotTask> slot_tasks_;      // guarded by mu_
  bool slots_closing_ = false;           // guarded by mu_
  std::vector<Completion> completions_;  // guarded by mu_
  std::vector<std::thread> slot_threads_;
  std::map<uint64_t, std::unique_ptr<Run>> runs_;
  // Runs in progress by job name, for the concurrency policy (cluster-wide, as every run of
  // a job comes through the one partition this worker owns).
  std::map<std::string, std::set<uint64_t>> running_by_job_;
  bool warned_truncated_ = false;
  bool overloaded_ = false;
  std::optional<MonoTime> next_load_check_;
  std::optional<MonoTime> next_commit_;
  uint64_t next_run_ = 0;
  size_t running_ = 0;
  uint64_t completed_ = 0;
  bool subscribed_ = false;
  bool stopped_ = false;
};

}  // namespace krond::worker
