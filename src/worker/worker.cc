#include "worker/worker.h"

#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <tuple>

#include "common/duration.h"
#include "common/time_format.h"
#include "common/user_name.h"
#include "exec/cancel_token.h"
#include "worker/backoff.h"

namespace krond::worker {
namespace {

// Kubernetes CronJob's startingDeadlineSeconds, for a run late for any reason (every slot
// busy, a backlog, workers down): a first attempt that cannot start within the job's
// starting_deadline of its scheduled time is skipped. Retries are late by their backoff, by
// design, so the deadline is not theirs. Returns why, or nothing when the run may start.
std::optional<std::string> MissedStartingDeadline(const messages::TaskMessage& t, SystemTime now) {
  if (!t.starting_deadline || t.attempt != 1 || now - t.scheduled_at <= *t.starting_deadline) {
    return std::nullopt;
  }
  return "missed its starting_deadline of " + FormatDuration(*t.starting_deadline) +
         ": scheduled " + FormatRfc3339Utc(t.scheduled_at) + ", " +
         FormatDuration(
             std::chrono::duration_cast<std::chrono::milliseconds>(now - t.scheduled_at)) +
         " late";
}

double UnixSeconds(SystemTime t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

messages::Outcome ToOutcome(exec::OutcomeKind kind) {
  switch (kind) {
    case exec::OutcomeKind::kSucceeded:
      return messages::Outcome::kSucceeded;
    case exec::OutcomeKind::kFailed:
      return messages::Outcome::kFailed;
    case exec::OutcomeKind::kTimedOut:
      return messages::Outcome::kTimedOut;
    case exec::OutcomeKind::kKilledBySignal:
      return messages::Outcome::kKilled;
    case exec::OutcomeKind::kSpawnFailed:
      return messages::Outcome::kSpawnFailed;
    case exec::OutcomeKind::kCancelled:
      return messages::Outcome::kCancelled;
    case exec::OutcomeKind::kBootFailed:
      return messages::Outcome::kBootFailed;
  }
  return messages::Outcome::kFailed;
}

std::string Where(const kafka::ConsumedMessage& m) {
  return m.topic + "[" + std::to_string(m.partition) + "]@" + std::to_string(m.offset);
}

// librdkafka counts a record's framing (about 60 bytes, plus headers krond does not use)
// against message.max.bytes, besides its key and value.
constexpr size_t kRecordOverheadBytes = 512;

// The run id of an undecodable message: its key when it has one, cut to a sane length (a key
// is as untrusted as the value).
std::string RunIdOfKey(std::string_view key) {
  if (key.empty()) return "unknown";
  constexpr size_t kMaxKeyBytes = 128;
  std::string id =
      messages::TruncateUtf8(messages::SanitizeUtf8(key.substr(0, kMaxKeyBytes)), kMaxKeyBytes);
  if (key.size() > kMaxKeyBytes) id += "...";
  return id;
}

std::string_view RecordName(int kind) {
  constexpr std::string_view kNames[] = {"result", "retry", "dead_letter"};
  return kNames[kind];
}

}  // namespace

Status WorkerOptions::Validate() const {
  if (cluster.empty()) return MakeError("worker: --cluster is required");
  if (slots < 1 || slots > 1024) {
    return MakeError("worker: --slots must be 1..1024, got " + std::to_string(slots));
  }
  if (max_timeout.count() <= 0) return MakeError("worker: --max-timeout must be positive");
  if (kill_grace.count() < 0) return MakeError("worker: --kill-grace must be >= 0");
  if (output_tail_bytes > 64 * 1024 * 1024) {
    return MakeError("worker: --output-tail must be at most 64 MiB");
  }
  if (!(max_load >= 0)) return MakeError("worker: --max-load must be >= 0");
  if (!run_as.empty() && !IsValidUserName(run_as)) {
    return MakeError("worker: --run-as \"" + run_as + "\" is not a valid user name");
  }
  if (max_poll_batch < 1) return MakeError("worker: max_poll_batch must be >= 1");
  if (commit_interval.count() < 0) return MakeError("worker: commit_interval must be >= 0");
  if (flush_timeout.count() < 0) return MakeError("worker: --flush-timeout must be >= 0");
  if (max_early < 1) return MakeError("worker: --max-early must be >= 1");
  if (max_hold_ahead.count() <= 0) return MakeError("worker: --max-hold-ahead must be positive");
  if (gate_wait.count() <= 0) return MakeError("worker: --control-wait must be positive");
  if (max_message_bytes < 128 * 1024) {
    return MakeError("worker: message.max.bytes (--kafka-setting) must be at least 131072");
  }
  return {};
}

struct Worker::Run {
  kafka::ConsumedMessage message;
  messages::TaskMessage task;
  std::optional<messages::SignedTask> envelope;  // the signed task it came in, if any
  exec::CancelToken cancel;
  SystemTime started_at{};
  // Set when a newer run of the same job (concurrency "replace") cancelled this one.
  std::string replaced_by;
  // "revoked" or "lost" when cancelled to give its partition up (left for redelivery).
  std::string handed_over;
};

struct Worker::Completion {
  uint64_t id = 0;
  exec::RunOutcome outcome;
  SystemTime finished_at{};
};

Worker::Worker(const Clock& clock, kafka::Consumer& consumer, kafka::Producer& producer,
               exec::Executor& executor, WorkerMetrics& metrics, messages::TopicNames topics,
               WorkerOptions options, exec::Executor* sandboxed, exec::Executor* microvm)
    : clock_(clock),
      consumer_(consumer),
      executor_(executor),
      sandboxed_(sandboxed),
      microvm_(microvm),
      metrics_(metrics),
      topics_(std::move(topics)),
      options_(std::move(options)),
      publisher_(producer, clock,
                 [this](const std::string& topic, const kafka::ProduceError& error,
                        kafka::ReliablePublisher::Next next) {
                   using Next = kafka::ReliablePublisher::Next;
                   // Permanent errors are logged by PublishRecord, with the run.
                   if (next == Next::kGiveUp) return;
                   metrics_.publish_errors.Inc();
                   if (next == Next::kAlone) {
                     spdlog::info(
                         "publish to {} refused ({}); producing it again on its own, "
                         "in case it was its batch that was too large",
                         topic, error.message);
                   } else {
                     spdlog::warn("publish to {} failed, will retry: {}", topic, error.message);
                   }
                 },
                 {.retry_delay = std::chrono::milliseconds(500),
                  .max_retry_delay = std::chrono::seconds(5)}),
      rng_(options_.seed != 0 ? options_.seed : std::random_device{}()) {
  metrics_.slots.Set(options_.slots);
  if (options_.max_load > 0 && !options_.load_source) options_.load_source = SystemLoadPerCpu;
  metrics_.overloaded.Set(0);
  const std::string_view queue = messages::QueueName(options_.queue);
  metrics_.runs_started.WithLabels({options_.cluster, queue});
  metrics_.start_delay.WithLabels({options_.cluster, queue});
  metrics_.runtime.WithLabels({queue});
  metrics_.retries_published.WithLabels({options_.cluster});
  // Exported as 0 from the start, so the first dead letter or missed run shows in increase()
  // and alerts.
  metrics_.runs_missed_deadline.WithLabels({options_.cluster});
  for (const char* reason : {"exhausted", "not_retried", "invalid", "retry_refused"}) {
    metrics_.dead_letters_published.WithLabels({options_.cluster, reason});
  }
  for (auto kind : {messages::TaskRefusalKind::kUnsigned, messages::TaskRefusalKind::kUntrustedKey,
                    messages::TaskRefusalKind::kBadSignature}) {
    metrics_.tasks_refused.WithLabels({options_.cluster, messages::TaskRefusalName(kind)});
  }
  for (int kind = 0; kind < 3; ++kind) {
    metrics_.records_dropped.WithLabels({RecordName(kind)});
    for (auto error : {kafka::ProduceErrorKind::kTooLarge, kafka::ProduceErrorKind::kUnauthorized,
                       kafka::ProduceErrorKind::kUnknownTopic, kafka::ProduceErrorKind::kInvalid}) {
      metrics_.publish_refused.WithLabels({RecordName(kind), kafka::ProduceErrorName(error)});
    }
  }
  for (const char* state : {"started", "finished"}) {
    metrics_.runs_redelivered.WithLabels({options_.cluster, queue, state});
  }
  for (const char* reason : {"shutdown", "revoked", "lost"}) {
    metrics_.runs_handed_over.WithLabels({options_.cluster, queue, reason});
  }
  for (const char* reason : {"paused", "removed"}) {
    metrics_.runs_cancelled.WithLabels({options_.cluster, reason});
  }
  for (const char* result : {"ready", "timed_out"}) {
    metrics_.gate_waits.WithLabels({options_.cluster, result});
  }
  metrics_.early_runs.Set(0);
  for (auto outcome :
       {messages::Outcome::kSucceeded, messages::Outcome::kFailed, messages::Outcome::kTimedOut}) {
    metrics_.runs_finished.WithLabels({options_.cluster, queue, messages::OutcomeName(outcome)});
  }
  slot_threads_.reserve(static_cast<size_t>(options_.slots));
  for (int i = 0; i < options_.slots; ++i) slot_threads_.emplace_back([this] { SlotLoop(); });
}

Worker::~Worker() {
  // Stop() is the orderly path; here we only make sure no slot thread outlives us. Runs
  // still queued are cancelled too, so the threads return at once.
  for (auto& [id, run] : runs_) run->cancel.Cancel();
  {
    std::lock_guard lock(mu_);
    slots_closing_ = true;
  }
  slot_wake_.notify_all();
  for (std::thread& t : slot_threads_) t.join();
}

void Worker::SlotLoop() {
  std::unique_lock lock(mu_);
  while (true) {
    slot_wake_.wait(lock, [this] { return slots_closing_ || !slot_tasks_.empty(); });
    if (slot_tasks_.empty()) return;
    SlotTask task = std::move(slot_tasks_.front());
    slot_tasks_.pop_front();
    lock.unlock();
    exec::RunOutcome outcome;
    if (task.pending != nullptr) {
      outcome = task.pending->Wait();
      task.pending.reset();
    } else {
      outcome.kind = exec::OutcomeKind::kSpawnFailed;
      outcome.error = task.refused;
      outcome.refusal = task.refusal;
    }
    lock.lock();
    completions_.push_back(Completion{task.id, std::move(outcome), clock_.Now()});
  }
}

Status Worker::Start() {
  const std::string topic = topics_.ForQueue(options_.queue, options_.cluster);
  if (auto ok = consumer_.Subscribe({topic}); !ok) return ok;
  subscribed_ = true;
  spdlog::info("worker {} consuming {} with {} slot(s)", options_.worker_id, topic, options_.slots);
  return {};
}

void Worker::Step(std::chrono::milliseconds poll_timeout) {
  DrainCompletions();
  UpdateLoad();
  StartDueEarly();
  TakeHeld();
  ResumeDue();
  // Wait in the consumer (or the producer, while nothing can be taken) so delivery
  // reports, completions and due resumes are all served within `poll_timeout`, and wake
  // just before the next early run is due.
  auto timeout = stopped_ ? std::chrono::milliseconds(0) : UntilNextEarly(poll_timeout);
  for (size_t taken = 0; taken < options_.max_poll_batch; ++taken) {
    auto polled = consumer_.Poll(timeout);
    if (!polled) {
      metrics_.kafka_errors.Inc();
      spdlog::warn("consumer: {}", polled.error().message);
      break;
    }
    if (!polled->has_value()) break;
    OnMessage(std::move(**polled));
    // The rest of a burst is already fetched: take it without waiting.
    timeout = std::chrono::milliseconds(0);
  }
  StartDueEarly();
  ReleaseLaunched();
  metrics_.last_poll.Set(UnixSeconds(clock_.Now()));
  publisher_.Poll(std::chrono::milliseconds(0));
  DrainCompletions();
  TakeHeld();
  CommitIfDue();
}

void Worker::CommitIfDue() {
  const MonoTime now = clock_.MonoNow();
  if (next_commit_ && now < *next_commit_) return;
  next_commit_ = now + options_.commit_interval;
  Commit();
}

void Worker::OnMessage(kafka::ConsumedMessage message) {
  const PartitionKey key{message.topic, message.partition};
  // A message of a parked partition was already in the local queue: it will be fetched
  // again from the rewound position, so dropping this copy loses nothing.
  if (deferred_.count(key) != 0 || stopped_) return;
  if (tracker_.InProgress(message.topic, message.partition, message.offset)) {
    // A partition lost and assigned back: this run's result is still being published here.
    spdlog::info("run {} at {} is being reported already; not run again", message.key,
                 Where(message));
    return;
  }
  const std::string_view queue = messages::QueueName(options_.queue);
  if (tracker_.FinishedBefore(message.topic, message.partition, message.offset)) {
    // Its result (and retry or dead letter) is in Kafka already: only the commit was lost.
    metrics_.runs_redelivered.WithLabels({options_.cluster, queue, "finished"}).Inc();
    spdlog::info("run {} at {} was finished by the partition's previous owner; not run again",
                 message.key, Where(message));
    tracker_.Started(message.topic, message.partition, message.offset);
    tracker_.Finished(message.topic, message.partition, message.offset);
    return;
  }
  auto opened = messages::OpenTask(message.value, options_.trusted_keys);
  if (!opened) {
    if (opened.error().kind != messages::TaskRefusalKind::kMalformed) {
      metrics_.tasks_refused
          .WithLabels({options_.cluster, messages::TaskRefusalName(opened.error().kind)})
          .Inc();
    }
    return OnInvalid(message, opened.error().message);
  }
  const messages::TaskMessage* task = &opened->task;
  if (task->cluster != options_.cluster) {
    return OnInvalid(message, "run of cluster \"" + task->cluster + "\" on the topic of \"" +
                                  options_.cluster + "\"");
  }
  const SystemTime now = clock_.Now();
  // Only retries wait: on the main queue a not_before could park a partition for as long as
  // one message says. A retry waits at most its own max_backoff from now (a not_before
  // further out than any backoff of the task's policy is not one krond wrote).
  if (options_.queue == messages::Queue::kRetry && task->not_before && *task->not_before > now) {
    // A message whose parking is over starts: with its wait capped at max_backoff, a
    // not_before in a year would otherwise park it again each time it came back.
    auto waited = waited_.find(key);
    const bool parked_before = waited != waited_.end() && waited->second == message.offset;
    if (!parked_before)
      return Defer(message, std::min(*task->not_before, now + task->retry.max_backoff));
  }
  waited_.erase(key);
  if (tracker_.StartedBefore(message.topic, message.partition, message.offset)) {
    metrics_.runs_redelivered.WithLabels({options_.cluster, queue, "started"}).Inc();
    spdlog::info(
        "{} run {} was started by the partition's previous owner, which gave it up or died: "
        "running it again (its starting_deadline does not apply)",
        task->job, task->run_id);
  }
  if (options_.queue == messages::Queue::kMain && task->scheduled_at > now) {
    return HoldEarly(std::move(message), std::move(*opened), now);
  }
  if (!Admit(message, *task)) return;
  if (!CanTake() || !held_.empty()) {
    tracker_.Started(message.topic, message.partition, message.offset);
    held_.push_back({std::move(message), std::move(*opened)});
    UpdatePause();
    return;
  }
  Launch(std::move(message), std::move(*opened));
}

bool Worker::Admit(const kafka::ConsumedMessage& message, const messages::TaskMessage& task) {
  // Before the concurrency policy: a run that will not start must not replace one that runs.
  // A run that already started on the partition's previous owner did start in time (like a
  // Kubernetes Job whose pod is restarted), so the deadline is not held against it.
  if (!tracker_.StartedBefore(message.topic, message.partition, message.offset)) {
    if (auto missed = MissedStartingDeadline(task, clock_.Now())) {
      SkipMissed(message, task, *missed);
      return false;
    }
  }
  // Overlapping runs of one job (Kubernetes CronJob's concurrencyPolicy). Every run of a job
  // comes through one partition, so the runs of this worker are all the job's runs.
  auto same = running_by_job_.find(task.job);
  if (same == running_by_job_.end()) return true;
  const uint64_t other_id = *same->second.begin();
  const std::string& other = runs_.at(other_id)->task.run_id;
  if (task.concurrency == "forbid") {
    Skip(message, task,
         "concurrency forbid: run " + other + " of job " + task.job + " is still running");
    return false;
  }
  if (task.concurrency == "replace") {
    for (uint64_t id : same->second) {
      Run& old = *runs_.at(id);
      if (old.replaced_by.empty()) {
        old.replaced_by = task.run_id;
        spdlog::info("{} run {} replaces run {} (concurrency replace)", task.job, task.run_id,
                     old.task.run_id);
      }
      old.cancel.Cancel();
    }
  }
  return true;
}

void Worker::TakeHeld() {
  while (!held_.empty() && CanTake() && !stopped_) {
    Held next = std::move(held_.front());
    held_.pop_front();
    // Checked again: time passed, and a run of the same job may have started meanwhile.
    if (!Admit(next.message, next.task.task)) continue;
    Launch(std::move(next.message), std::move(next.task));
  }
  ReleaseLaunched();
  UpdatePause();
}

void Worker::HoldEarly(kafka::ConsumedMessage message, messages::OpenedTask opened,
                       SystemTime now) {
  SystemTime at = opened.task.scheduled_at;
  if (at - now > options_.max_hold_ahead) {
    metrics_.early_capped.Inc();
    spdlog::warn(
        "{} run {} arrived {} ahead of its scheduled time {}, more than --max-hold-ahead: "
        "starting it in {} (is this host's clock or the scheduler's off?)",
        opened.task.job, opened.task.run_id,
        FormatDuration(std::chrono::duration_cast<std::chrono::milliseconds>(at - now)),
        FormatRfc3339Utc(at), FormatDuration(options_.max_hold_ahead));
    at = now + options_.max_hold_ahead;
  }
  tracker_.Started(message.topic, message.partition, message.offset);
  early_.emplace(at, Held{std::move(message), std::move(opened)});
  metrics_.early_runs.Set(static_cast<double>(early_.size()));
  UpdatePause();
}

// The consumer's poll wakes up to a millisecond late; the last stretch to the instant is
// slept on the clock itself (Clock::SleepUntil).
constexpr std::chrono::milliseconds kEarlyWakeMargin{2};
// How often due runs waiting for the gate look at it again: the follower marks it ready from
// a thread of its own, which cannot wake the consumer's poll.
constexpr std::chrono::milliseconds kGateRecheck{20};

std::chrono::milliseconds Worker::UntilNextEarly(std::chrono::milliseconds poll_timeout) const {
  if (early_.empty()) return poll_timeout;
  if (WaitingForGate()) return std::min(poll_timeout, kGateRecheck);
  const auto until = early_.begin()->first - clock_.Now() - kEarlyWakeMargin;
  return std::clamp(std::chrono::duration_cast<std::chrono::milliseconds>(until),
                    std::chrono::milliseconds(0), poll_timeout);
}

bool Worker::WaitingForGate() const {
  return gate_waited_until_ && !early_.empty() && early_.begin()->first <= *gate_waited_until_;
}

void Worker::StartDueEarly() {
  if (early_.empty() || stopped_) return;
  if (early_.begin()->first - clock_.Now() <= kEarlyWakeMargin) {
    clock_.SleepUntil(early_.begin()->first);
  }
  const SystemTime now = clock_.Now();
  const bool gate_ready = !options_.gate_ready || options_.gate_ready();
  // Runs due at or before this instant waited for the gate (the last look found it closed).
  const std::optional<SystemTime> waited_until = gate_waited_until_;
  size_t waited = 0;
  while (!early_.empty() && early_.begin()->first <= now) {
    if (!gate_ready) {
      // Whether the job was paused or removed after this run was sent is not known yet:
      // hold it (fail closed), up to gate_wait past its instant.
      if (now - early_.begin()->first < options_.gate_wait) {
        if (!gate_waited_until_) {
          spdlog::info(
              "held runs are due before this worker has read the control and catalog topics "
              "(pauses, removals): they wait for them, up to --control-wait {}",
              FormatDuration(options_.gate_wait));
        }
        gate_waited_until_ = now;
        break;
      }
      Held next = std::move(early_.extract(early_.begin()).mapped());
      metrics_.gate_waits.WithLabels({options_.cluster, "timed_out"}).Inc();
      Skip(next.message, next.task.task,
           "not started: this worker could not tell within --control-wait " +
               FormatDuration(options_.gate_wait) +
               " of its instant whether the job was paused or removed (it has not read the "
               "control and catalog topics since it started; can it read them?)",
           /*warn=*/true);
      continue;
    }
    const SystemTime at = early_.begin()->first;
    Held next = std::move(early_.extract(early_.begin()).mapped());
    const messages::TaskMessage& task = next.task.task;
    if (waited_until && at <= *waited_until) {
      metrics_.gate_waits.WithLabels({options_.cluster, "ready"}).Inc();
      ++waited;
    }
    if (options_.cancel_early) {
      if (std::optional<std::string> reason = options_.cancel_early(task.job)) {
        metrics_.runs_cancelled.WithLabels({options_.cluster, *reason}).Inc();
        Skip(next.message, task,
             "cancelled before its scheduled time: job " + *reason + " after the run was sent");
        continue;
      }
    }
    // At the instant, like a run that arrives on time: its deadline, then the concurrency
    // policy against the runs going now.
    if (!Admit(next.message, task)) continue;
    if (!CanTake() || !held_.empty()) {
      held_.push_back(std::move(next));
      continue;
    }
    Launch(std::move(next.message), std::move(next.task));
  }
  if (gate_ready && waited_until) {
    spdlog::info("control and catalog topics read: {} held run(s) that waited for them checked",
                 waited);
    gate_waited_until_.reset();
  }
  metrics_.early_runs.Set(static_cast<double>(early_.size()));
  ReleaseLaunched();
  UpdatePause();
}

bool Worker::CanTake() const {
  return running_ < static_cast<size_t>(options_.slots) && !overloaded_;
}

void Worker::UpdatePause() {
  // While stopping, partitions stay paused: a freed slot must not fetch more work.
  if (stopped_) return;
  const bool busy = running_ >= static_cast<size_t>(options_.slots) || !held_.empty();
  const bool pause = overloaded_ || (busy && held_.size() >= options_.max_held) ||
                     early_.size() >= options_.max_early;
  if (pause != all_paused_) SetAllPaused(pause);
}

void Worker::UpdateLoad() {
  if (options_.max_load <= 0 || !options_.load_source) return;
  const MonoTime now = clock_.MonoNow();
  if (next_load_check_ && now < *next_load_check_) return;
  next_load_check_ = now + std::chrono::seconds(1);
  const std::optional<double> load = options_.load_source();
  // An unreadable load never stops the worker.
  const bool overloaded = load && *load > options_.max_load;
  if (overloaded == overloaded_) return;
  overloaded_ = overloaded;
  metrics_.overloaded.Set(overloaded ? 1 : 0);
  if (overloaded) {
    spdlog::warn("load per CPU {:.2f} above --max-load {:.2f}: taking no new runs", *load,
                 options_.max_load);
  } else if (load) {
    spdlog::info("load per CPU {:.2f} back under --max-load {:.2f}: taking runs again", *load,
                 options_.max_load);
  } else {
    spdlog::warn("load average unreadable: taking runs again");
  }
  UpdatePause();
}

void Worker::Skip(const kafka::ConsumedMessage& message, const messages::TaskMessage& task,
                  const std::string& reason, bool warn) {
  // A held run is taken already; Started again is a no-op.
  tracker_.Started(message.topic, message.partition, message.offset);
  messages::ResultMessage result = BaseResult(task);
  result.started_at = result.finished_at = clock_.Now();
  result.outcome = messages::Outcome::kSkipped;
  result.error = reason;
  metrics_.runs_finished
      .WithLabels({options_.cluster, messages::QueueName(options_.queue),
                   messages::OutcomeName(result.outcome)})
      .Inc();
  spdlog::log(warn ? spdlog::level::warn : spdlog::level::info, "skip {} run {}: {}", task.job,
              task.run_id, reason);
  auto outbox = std::make_shared<Outbox>();
  outbox->source = {message.topic, message.partition, message.offset};
  outbox->key = task.run_id;
  outbox->result = std::move(result);
  outbox->task = task;
  Record record = ResultRecord(outbox->result, false);
  PublishThenFinish(std::move(outbox), {std::move(record)});
}

void Worker::SkipMissed(const kafka::ConsumedMessage& message, const messages::TaskMessage& task,
                        const std::string& reason) {
  metrics_.runs_missed_deadline.WithLabels({options_.cluster}).Inc();
  Skip(message, task, reason);
}

void Worker::OnInvalid(const kafka::ConsumedMessage& message, const std::string& error) {
  metrics_.invalid_messages.Inc();
  spdlog::error("invalid task message at {}: {}", Where(message), error);
  tracker_.Started(message.topic, message.partition, message.offset);
  auto outbox = std::make_shared<Outbox>();
  outbox->source = {message.topic, message.partition, message.offset};
  outbox->key = RunIdOfKey(message.key);
  messages::ResultMessage& result = outbox->result;
  result.run_id = outbox->key;
  result.cluster = options_.cluster;
  result.worker = options_.worker_id;
  result.queue = std::string(messages::QueueName(options_.queue));
  result.started_at = result.finished_at = clock_.Now();
  result.outcome = messages::Outcome::kInvalid;
  result.error = error;
  result.source = Where(message);
  // A bounded copy: the message may be anything up to the broker's limit, and its dead
  // letter must fit in a message too, or the partition would never get past it.
  outbox->raw = messages::CopyRaw(message.value);
  metrics_.dead_letters_published.WithLabels({options_.cluster, "invalid"}).Inc();
  std::vector<Record> records;
  records.push_back(ResultRecord(result, false));
  records.push_back(DeadLetterRecord(*outbox, "invalid message: " + error, false));
  PublishThenFinish(std::move(outbox), std::move(records));
}

void Worker::Launch(kafka::ConsumedMessage message, messages::OpenedTask opened) {
  tracker_.Started(message.topic, message.partition, message.offset);
  // Committed with the next commit (commit_interval), so that the partition's next owner
  // knows this run started even if this worker dies while it runs.
  tracker_.Launched(message.topic, message.partition, message.offset);
  const uint64_t id = next_run_++;
  auto run = std::make_unique<Run>();
  run->message = std::move(message);
  run->task = std::move(opened.task);
  run->envelope = std::move(opened.envelope);
  run->started_at = clock_.Now();
  const messages::TaskMessage& t = run->task;
  const std::string_view queue = messages::QueueName(options_.queue);
  const SystemTime due = options_.queue == messages::Queue::kRetry
                             ? t.not_before.value_or(t.scheduled_at)
                             : t.scheduled_at;
  metrics_.runs_started.WithLabels({options_.cluster, queue}).Inc();
  metrics_.start_delay.WithLabels({options_.cluster, queue})
      .ObserveDuration(std::max(run->started_at - due, std::chrono::milliseconds(0)));
  // Checked first: the timestamp is formatted even when the line is dropped.
  if (spdlog::should_log(spdlog::level::info)) {
    spdlog::info("start {} run {} attempt {}/{} scheduled {} (late {}ms)", t.job, t.run_id,
                 t.attempt, t.max_attempts, FormatRfc3339Utc(t.scheduled_at),
                 (run->started_at - due).count());
  }

  exec::RunSpec spec;
  spec.argv = {"/bin/sh", "-c", t.command};
  // The job's env: over the worker's allow-list (the executor's base environment), and the
  // run's KROND_* identity after it: a task never carries a KROND_* name (DecodeTask).
  spec.env = t.env;
  spec.env.insert(spec.env.end(), {{"KROND_RUN_ID", t.run_id},
                                   {"KROND_JOB", t.job},
                                   {"KROND_ATTEMPT", std::to_string(t.attempt)},
                                   {"KROND_SCHEDULED_AT", FormatRfc3339Utc(t.scheduled_at)}});
  if (t.fence) spec.env.emplace_back("KROND_FENCE", std::to_string(*t.fence));
  spec.timeout = std::min(t.timeout, options_.max_timeout);
  spec.kill_grace = options_.kill_grace;
  spec.output_tail_bytes = options_.output_tail_bytes;
  spec.limits = options_.limits;
  spec.sandbox.allow_network = t.network;
  // The job's sandbox can only add to the worker's: never run a sandboxed job without one.
  exec::Executor* executor = &executor_;
  std::string refused;
  if (t.sandbox == "bubblewrap") {
    executor = sandboxed_;
    if (executor == nullptr) refused = "sandbox bubblewrap requested but this worker has none";
  } else if (t.sandbox == "microvm") {
    executor = microvm_;
    if (executor == nullptr) refused = "sandbox microvm requested but this worker has none";
    if (t.microvm) {
      spec.sandbox.vm_memory_mib = t.microvm->memory_mib;
      spec.sandbox.vm_vcpus = t.microvm->vcpus;
    }
  } else if (t.sandbox != "none") {
    executor = nullptr;
    refused = "unknown sandbox \"" + t.sandbox + "\"";
  }
  exec::Refusal refusal = exec::Refusal::kNone;
  if (refused.empty()) std::tie(refused, refusal) = ChooseUser(t, spec);
  if (!refused.empty()) executor = nullptr;

  Run* raw = run.get();
  runs_.emplace(id, std::move(run));
  running_by_job_[raw->task.job].insert(id);
  ++running_;
  metrics_.in_flight.Set(static_cast<double>(running_));
  std::unique_ptr<exec::PendingRun> pending =
      executor != nullptr ? executor->Begin(std::move(spec), raw->cancel) : nullptr;
  launched_.push_back(SlotTask{id, std::move(pending), std::move(refused), refusal});
  UpdatePause();
}

std::pair<std::string, exec::Refusal> Worker::ChooseUser(const messages::TaskMessage& t,
                                                         exec::RunSpec& spec) const {
  if (t.sandbox != "none") {
    // The sandbox picks the command's uid; a host user would not exist inside it.
    if (!t.user.empty()) {
      return {"user \"" + t.user + "\" cannot be combined with sandbox " + t.sandbox +
                  " (the sandbox runs the command as its own unprivileged user)",
              exec::Refusal::kNone};
    }
    return {};
  }
  spec.user = t.user.empty() ? options_.run_as : t.user;
  if (options_.refuse_root && (spec.user.empty() || spec.user == "root")) {
    return {
        "refusing to run as root: the job sets no user: (or root) and this worker has no "
        "--run-as; start the worker with --run-as USER, or --allow-root to run it as root",
        exec::Refusal::kRoot};
  }
  return {};
}

void Worker::ReleaseLaunched() {
  if (launched_.empty()) return;
  const size_t count = launched_.size();
  {
    std::lock_guard lock(mu_);
    for (SlotTask& task : launched_) slot_tasks_.push_back(std::move(task));
  }
  launched_.clear();
  for (size_t i = 0; i < count; ++i) slot_wake_.notify_one();
}

void Worker::DrainCompletions() {
  std::vector<Completion> done;
  {
    std::lock_guard lock(mu_);
    done.swap(completions_);
  }
  for (auto& c : done) Finish(std::move(c));
}

messages::ResultMessage Worker::BaseResult(const messages::TaskMessage& task) const {
  messages::ResultMessage r;
  r.run_id = task.run_id;
  r.job = task.job;
  r.cluster = task.cluster;
  r.attempt = task.attempt;
  r.worker = options_.worker_id;
  r.queue = std::string(messages::QueueName(options_.queue));
  r.scheduled_at = task.scheduled_at;
  r.trigger = task.trigger;
  r.requested_by = task.requested_by;
  return r;
}

std::unique_ptr<Worker::Run> Worker::Release(uint64_t id) {
  auto it = runs_.find(id);
  if (it == runs_.end()) return nullptr;
  std::unique_ptr<Run> run = std::move(it->second);
  runs_.erase(it);
  if (auto same = running_by_job_.find(run->task.job); same != running_by_job_.end()) {
    same->second.erase(id);
    if (same->second.empty()) running_by_job_.erase(same);
  }
  --running_;
  ++completed_;
  metrics_.in_flight.Set(static_cast<double>(running_));
  UpdatePause();
  return run;
}

messages::ResultMessage Worker::ResultOf(const Run& run, const Completion& done) {
  const exec::RunOutcome& o = done.outcome;
  const messages::TaskMessage& task = run.task;
  messages::ResultMessage result = BaseResult(task);
  // When the command really started (spawned or handed to a warm shell); the dispatch time
  // when it never did.
  result.started_at = o.pid != 0 ? o.wall_started : run.started_at;
  result.finished_at = done.finished_at;
  result.outcome = ToOutcome(o.kind);
  if (o.refusal != exec::Refusal::kNone) {
    metrics_.runs_refused.WithLabels({options_.cluster, exec::ToString(o.refusal)}).Inc();
    spdlog::error("{} run {} refused: {}", task.job, task.run_id, o.error);
  }
  if (o.signal == 0 && o.exit_code >= 0) result.exit_code = o.exit_code;
  if (o.signal != 0) result.signal = o.signal;
  result.output_tail = messages::SanitizeUtf8(o.output_tail);
  result.output_bytes = static_cast<int64_t>(o.output_bytes_total);
  result.error = o.error;
  if (o.kind == exec::OutcomeKind::kTimedOut) {
    result.error = "timed out after " + std::to_string(task.timeout.count()) + "ms";
  }
  if (o.kind == exec::OutcomeKind::kCancelled && !run.replaced_by.empty()) {
    result.error = "replaced by run " + run.replaced_by + " (concurrency replace)";
  }
  if (o.vm) {
    const std::string_view accelerator = exec::ToString(o.vm->accelerator);
    result.vm = messages::ResultMessage::Vm{std::string(accelerator), std::nullopt};
    if (o.vm->boot) {
      result.vm->boot_ms = o.vm->boot->count();
      metrics_.microvm_boot.WithLabels({accelerator}).ObserveDuration(*o.vm->boot);
    }
  }
  if (o.descendants_killed) {
    result.error += (result.error.empty() ? "" : "; ") +
                    std::string("processes left behind by the command were killed");
  }
  return result;
}

std::optional<std::string> Worker::RetryOrDeadLetter(const Run& run, messages::Outcome outcome,
                                                     SystemTime finished_at,
                                                     std::vector<Record>& records) {
  const messages::TaskMessage& task = run.task;
  const bool retried = IsRetried(task.retry, outcome);
  if (retried && task.attempt < task.max_attempts) {
    messages::TaskMessage next = task;
    next.attempt = task.attempt + 1;
    std::uniform_real_distribution<double> u(0.0, 1.0);
    const auto delay = RetryDelay(task.retry, next.attempt, u(rng_));
    next.not_before = finished_at + delay;
    next.produced_at = finished_at;
    // Routed by job like first attempts, so that the retries of a job go to one retry
    // worker and its concurrency policy holds among them (docs/retries.md).
    records.push_back({RecordKind::kRetry, topics_.Retry(task.cluster),
                       RetryValue(next, run.envelope), false,
                       std::string(messages::PartitionKeyOf(next))});
    metrics_.retries_published.WithLabels({options_.cluster}).Inc();
    spdlog::info("retry {} run {} as attempt {}/{} after {}ms", task.job, task.run_id, next.attempt,
                 next.max_attempts, delay.count());
    return std::nullopt;
  }
  std::string reason = retried
                           ? "attempts exhausted (" + std::to_string(task.attempt) + "/" +
                                 std::to_string(task.max_attempts) + ")"
                           : std::string("outcome ") + std::string(messages::OutcomeName(outcome)) +
                                 " is not retried";
  metrics_.dead_letters_published
      .WithLabels({options_.cluster, retried ? "exhausted" : "not_retried"})
      .Inc();
  spdlog::warn("dead-letter {} run {}: {}", task.job, task.run_id, reason);
  return reason;
}

void Worker::Finish(Completion done) {
  std::unique_ptr<Run> run = Release(done.id);
  if (run == nullptr) return;
  const exec::RunOutcome& o = done.outcome;
  const messages::TaskMessage& task = run->task;
  const std::string_view queue = messages::QueueName(options_.queue);
  if (o.kind == exec::OutcomeKind::kCancelled && run->replaced_by.empty() &&
      (stopped_ || !run->handed_over.empty())) {
    // Shutdown or a rebalance cut this run short: leave it uncommitted so that the
    // partition's next owner runs it again.
    const std::string reason = run->handed_over.empty() ? "shutdown" : run->handed_over;
    metrics_.runs_handed_over.WithLabels({options_.cluster, queue, reason}).Inc();
    spdlog::warn("{} run {} cancelled by {}; it will be redelivered", task.job, task.run_id,
                 reason == "shutdown" ? "shutdown" : "a rebalance (partition " + reason + ")");
    return;
  }
  messages::ResultMessage result = ResultOf(*run, done);
  metrics_.runs_finished
      .WithLabels({options_.cluster, queue, messages::OutcomeName(result.outcome)})
      .Inc();
  metrics_.runtime.WithLabels({queue}).ObserveDuration(o.Duration());
  spdlog::info("finish {} run {} attempt {}/{}: {} exit {} in {}ms", task.job, task.run_id,
               task.attempt, task.max_attempts, messages::OutcomeName(result.outcome), o.exit_code,
               o.Duration().count());

  auto outbox = std::make_shared<Outbox>();
  outbox->source = {run->message.topic, run->message.partition, run->message.offset};
  outbox->key = task.run_id;
  outbox->task = task;
  outbox->envelope = run->envelope;
  std::vector<Record> records;
  records.push_back(ResultRecord(result, false));
  // A replaced run is superseded by the newer run: neither retried nor dead-lettered.
  const bool replaced = o.kind == exec::OutcomeKind::kCancelled && !run->replaced_by.empty();
  std::optional<std::string> dead_reason;
  if (result.outcome != messages::Outcome::kSucceeded && !replaced) {
    dead_reason = RetryOrDeadLetter(*run, result.outcome, done.finished_at, records);
  }
  outbox->result = std::move(result);
  if (dead_reason) records.push_back(DeadLetterRecord(*outbox, *dead_reason, false));
  PublishThenFinish(std::move(outbox), std::move(records));
}

std::string Worker::RetryValue(const messages::TaskMessage& next,
                               const std::optional<messages::SignedTask>& envelope) {
  if (!envelope) return messages::Encode(next);
  // The signed bytes go unchanged: this worker holds no key that could sign a new task.
  messages::SignedTask retry = *envelope;
  retry.attempt = next.attempt;
  retry.not_before = FormatRfc3339Utc(*next.not_before);
  return messages::EncodeSignedTask(retry);
}

size_t Worker::ValueBudget(const std::string& key) const {
  return options_.max_message_bytes -
         std::min(key.size() + kRecordOverheadBytes, options_.max_message_bytes / 2);
}

Worker::Record Worker::ResultRecord(const messages::ResultMessage& result, bool minimal) const {
  return {RecordKind::kResult,
          topics_.Results(),
          messages::EncodeWithin(result, ValueBudget(result.run_id)),
          minimal,
          {}};
}

Worker::Record Worker::DeadLetterRecord(const Outbox& outbox, std::string reason,
                                        bool minimal) const {
  messages::DeadLetter dead;
  dead.reason = std::move(reason);
  dead.last_result = outbox.result;
  if (minimal) {
    // The least that still says which run died and why: a short copy of what it ran.
    dead.last_result.output_tail.clear();
    constexpr size_t kMinimalCopyBytes = 1024;
    if (outbox.task) {
      dead.raw = messages::CopyRaw(messages::Encode(*outbox.task), kMinimalCopyBytes);
    } else if (outbox.raw) {
      dead.raw = *outbox.raw;
      dead.raw.bytes.resize(std::min(dead.raw.bytes.size(), kMinimalCopyBytes));
    }
  } else if (outbox.task) {
    dead.task = outbox.task;
    if (outbox.envelope) {
      messages::SignedTask original = *outbox.envelope;
      original.attempt.reset();
      original.not_before.reset();
      original.replayed_from.reset();
      dead.signed_task = messages::EncodeSignedTask(original);
    }
  } else if (outbox.raw) {
    dead.raw = *outbox.raw;
  }
  return {RecordKind::kDeadLetter,
          topics_.Dead(options_.cluster),
          messages::EncodeWithin(dead, ValueBudget(outbox.key)),
          minimal,
          {}};
}

std::optional<Worker::Record> Worker::Replacement(const Outbox& outbox, const Record& refused,
                                                  const kafka::ProduceError& error) const {
  if (refused.minimal) return std::nullopt;
  switch (refused.kind) {
    case RecordKind::kResult: {
      if (error.kind != kafka::ProduceErrorKind::kTooLarge) return std::nullopt;
      messages::ResultMessage slim = outbox.result;
      slim.output_tail.clear();
      slim.error += std::string(slim.error.empty() ? "" : "; ") +
                    "output not published: the result was refused (" + error.message + ")";
      return ResultRecord(slim, true);
    }
    case RecordKind::kRetry:
      // Whatever the reason, the run must not vanish: dead-letter it, where it can be replayed.
      return DeadLetterRecord(outbox, "retry not published: " + error.message, false);
    case RecordKind::kDeadLetter:
      if (error.kind != kafka::ProduceErrorKind::kTooLarge) return std::nullopt;
      return DeadLetterRecord(outbox, "dead letter refused (" + error.message + "); shortened",
                              true);
  }
  return std::nullopt;
}

void Worker::PublishThenFinish(std::shared_ptr<Outbox> outbox, std::vector<Record> records) {
  tracker_.Publishing(outbox->source.topic, outbox->source.partition, outbox->source.offset);
  outbox->remaining = records.size();
  for (Record& record : records) PublishRecord(outbox, std::move(record));
}

void Worker::PublishRecord(const std::shared_ptr<Outbox>& outbox, Record record) {
  const std::string topic = record.topic;
  std::string value = std::move(record.value);
  record.value.clear();
  std::string partition_key = record.partition_key;
  publisher_.Publish(
      topic, outbox->key, std::move(value),
      [this, outbox, record = std::move(record)](const kafka::DeliveryReport& report) {
        if (report.status) return FinishOne(outbox);
        const kafka::ProduceError& error = report.status.error();
        const std::string_view what = RecordName(static_cast<int>(record.kind));
        const std::string& job = outbox->task ? outbox->task->job : outbox->result.job;
        metrics_.publish_refused.WithLabels({what, kafka::ProduceErrorName(error.kind)}).Inc();
        std::optional<Record> instead = Replacement(*outbox, record, error);
        if (instead) {
          spdlog::error("{} of {} run {} refused by Kafka ({}): {}; publishing a smaller one", what,
                        job, outbox->key, kafka::ProduceErrorName(error.kind), error.message);
          if (instead->kind == RecordKind::kDeadLetter && record.kind == RecordKind::kRetry) {
            metrics_.dead_letters_published.WithLabels({options_.cluster, "retry_refused"}).Inc();
          }
          return PublishRecord(outbox, std::move(*instead));
        }
        // Retrying would fail the same way and hold this partition's offsets forever.
        metrics_.records_dropped.WithLabels({what}).Inc();
        spdlog::error("{} of {} run {} refused by Kafka ({}): {}; dropped (source {}[{}]@{})", what,
                      job, outbox->key, kafka::ProduceErrorName(error.kind), error.message,
                      outbox->source.topic, outbox->source.partition, outbox->source.offset);
        FinishOne(outbox);
      },
      std::move(partition_key));
}

void Worker::FinishOne(const std::shared_ptr<Outbox>& outbox) {
  if (--outbox->remaining == 0) {
    tracker_.Finished(outbox->source.topic, outbox->source.partition, outbox->source.offset);
  }
}

void Worker::Defer(const kafka::ConsumedMessage& message, SystemTime until) {
  const kafka::TopicPartition tp{message.topic, message.partition, message.offset};
  if (auto ok = consumer_.Pause({tp}); !ok) spdlog::warn("{}", ok.error().message);
  if (auto ok = consumer_.Seek(tp); !ok) spdlog::warn("{}", ok.error().message);
  deferred_[{message.topic, message.partition}] = {until, message.offset};
  spdlog::debug("parked {} until {}", Where(message), FormatRfc3339Utc(until));
}

void Worker::ResumeDue() {
  const SystemTime now = clock_.Now();
  std::vector<kafka::TopicPartition> resume;
  for (auto it = deferred_.begin(); it != deferred_.end();) {
    if (it->second.until <= now) {
      resume.push_back({it->first.first, it->first.second, -1});
      waited_[it->first] = it->second.offset;
      it = deferred_.erase(it);
    } else {
      ++it;
    }
  }
  if (!resume.empty() && !all_paused_) {
    if (auto ok = consumer_.Resume(resume); !ok) spdlog::warn("{}", ok.error().message);
  }
}

void Worker::SetAllPaused(bool paused) {
  all_paused_ = paused;
  std::vector<kafka::TopicPartition> parts;
  for (const auto& tp : assigned_) {
    if (!paused && deferred_.count({tp.topic, tp.partition}) != 0) continue;
    parts.push_back({tp.topic, tp.partition, -1});
  }
  if (parts.empty()) return;
  auto ok = paused ? consumer_.Pause(parts) : consumer_.Resume(parts);
  if (!ok) spdlog::warn("{}", ok.error().message);
}

void Worker::Commit() {
  OffsetTracker::Commits commits = tracker_.TakeCommittable();
  if (commits.truncated > 0) {
    metrics_.commit_metadata_errors.WithLabels({"truncated"}).Add(commits.truncated);
    if (!warned_truncated_) {
      warned_truncated_ = true;
      spdlog::warn(
          "commit metadata over {} bytes: the highest started or finished runs are left out of "
          "it (a new owner would take them as new); counted in "
          "krond_worker_commit_metadata_errors_total, not logged again",
          kafka::kMaxCommitMetadataBytes);
    }
  }
  if (commits.offsets.empty()) return;
  if (auto ok = consumer_.Commit(commits.offsets); !ok) {
    metrics_.commit_errors.Inc();
    spdlog::warn("{} (those runs may run again)", ok.error().message);
    return;
  }
  for (const auto& tp : commits.offsets) {
    metrics_.committed_offset.WithLabels({tp.topic, std::to_string(tp.partition)})
        .Set(static_cast<double>(tp.offset));
  }
}

void Worker::ReadCommitNotes(const std::vector<kafka::TopicPartition>& partitions) {
  auto committed = consumer_.Committed(partitions, std::chrono::seconds(10));
  if (!committed) {
    metrics_.commit_metadata_errors.WithLabels({"read"}).Inc();
    spdlog::warn(
        "cannot read the last commit of {} new partition(s): {}; their redelivered runs are "
        "taken as new (a run started before may miss its starting_deadline, a finished one "
        "runs again)",
        partitions.size(), committed.error().message);
    return;
  }
  for (const auto& tp : *committed) {
    if (auto ok = tracker_.Inherit(tp); !ok) {
      metrics_.commit_metadata_errors.WithLabels({"decode"}).Inc();
      spdlog::warn("{}[{}]@{}: {}; its redelivered runs are taken as new", tp.topic, tp.partition,
                   tp.offset, ok.error().message);
    }
  }
}

void Worker::OnAssigned(const std::vector<kafka::TopicPartition>& partitions) {
  for (const auto& tp : partitions) assigned_.push_back(tp);
  ReadCommitNotes(partitions);
  if (all_paused_) SetAllPaused(true);
}

void Worker::OnRevoked(const std::vector<kafka::TopicPartition>& partitions) {
  GiveUp(partitions, /*lost=*/false);
}

void Worker::OnLost(const std::vector<kafka::TopicPartition>& partitions) {
  GiveUp(partitions, /*lost=*/true);
}

void Worker::GiveUp(const std::vector<kafka::TopicPartition>& partitions, bool lost) {
  auto on_them = [&](const kafka::ConsumedMessage& m) {
    return std::any_of(partitions.begin(), partitions.end(), [&](const kafka::TopicPartition& tp) {
      return tp.topic == m.topic && tp.partition == m.partition;
    });
  };
  // Held and parked messages never started: the next owner reads them again.
  std::erase_if(held_, [&](const Held& h) { return on_them(h.message); });
  std::erase_if(early_, [&](const auto& entry) { return on_them(entry.second.message); });
  metrics_.early_runs.Set(static_cast<double>(early_.size()));
  for (const auto& tp : partitions) {
    deferred_.erase({tp.topic, tp.partition});
    waited_.erase({tp.topic, tp.partition});
    std::erase_if(assigned_, [&](const kafka::TopicPartition& a) {
      return a.topic == tp.topic && a.partition == tp.partition;
    });
  }
  if (stopped_) {
    // The consumer's close revokes everything after Stop, which has ended the runs and given
    // the results their flush_timeout: waiting again here would unbound a stop with Kafka
    // unreachable.
    if (!lost) Commit();
    tracker_.Forget(partitions, lost);
    return;
  }
  // The next owner gets the partitions when this returns: until then their runs may end
  // here (and be committed), after that none may still run, or a forbid job would overlap.
  // Runs launched in this Step are handed to their slot threads first, so that they end.
  ReleaseLaunched();
  auto running_on_them = [&] {
    return std::count_if(runs_.begin(), runs_.end(),
                         [&](const auto& entry) { return on_them(entry.second->message); });
  };
  const auto wait = lost ? std::chrono::milliseconds(0) : options_.drain_timeout;
  if (const auto n = running_on_them(); n > 0) {
    spdlog::warn("{} partition(s) {}: {} run(s) still going; {}", partitions.size(),
                 lost ? "lost" : "revoked", n,
                 lost ? "cancelling them at once (another worker may own the partitions already)"
                      : "waiting up to " + FormatDuration(wait) +
                            " for them to finish before cancelling them for redelivery");
  }
  const MonoTime deadline = clock_.MonoNow() + wait;
  const MonoTime give_up = deadline + options_.kill_grace + std::chrono::seconds(10);
  bool cancelled = false;
  // Also waits for the results of what finished, so that their offsets are committed and
  // the next owner does not run them again (not for lost partitions: no commit is possible).
  while (running_on_them() > 0 || (!lost && publisher_.Pending() > 0)) {
    const MonoTime now = clock_.MonoNow();
    if (!cancelled && now >= deadline && running_on_them() > 0) {
      for (auto& [id, run] : runs_) {
        if (!on_them(run->message)) continue;
        run->handed_over = lost ? "lost" : "revoked";
        run->cancel.Cancel();
      }
      cancelled = true;
    }
    if (now >= give_up) {
      spdlog::error(
          "gave up waiting for {} run(s) and {} result(s) of the {} partition(s); a run still "
          "going may overlap with its redelivery on the next owner",
          running_on_them(), publisher_.Pending(), lost ? "lost" : "revoked");
      break;
    }
    DrainCompletions();
    publisher_.Poll(std::chrono::milliseconds(20));
  }
  if (!lost) Commit();
  tracker_.Forget(partitions, lost);
}

void Worker::Stop() {
  if (stopped_) return;
  stopped_ = true;
  spdlog::info("worker stopping: {} run(s) in flight, draining up to {}ms", running_,
               options_.drain_timeout.count());
  SetAllPaused(true);
  if (!early_.empty()) {
    // Uncommitted (the commit stops before the first of them): the partitions' next owner
    // starts them, on time if it has them before their instant.
    spdlog::info("leaving {} run(s) held ahead of their instant to the partitions' next owner",
                 early_.size());
    early_.clear();
    metrics_.early_runs.Set(0);
  }
  // Keep serving the group (and delivery reports) while waiting.
  auto serve = [this] {
    Step(std::chrono::milliseconds(50));
    publisher_.Poll(std::chrono::milliseconds(20));
  };
  // Commands first: they may finish within the drain timeout, or are cancelled (and left
  // uncommitted, so another worker runs them again).
  const MonoTime drain_deadline = clock_.MonoNow() + options_.drain_timeout;
  bool cancelled = false;
  while (running_ > 0) {
    const MonoTime now = clock_.MonoNow();
    if (!cancelled && now >= drain_deadline) {
      spdlog::warn("drain timeout: cancelling {} run(s); they will be redelivered", running_);
      for (auto& [id, run] : runs_) run->cancel.Cancel();
      cancelled = true;
    }
    // SIGKILL after kill_grace ends any process but one stuck in the kernel.
    if (cancelled && now >= drain_deadline + options_.kill_grace + std::chrono::seconds(1)) {
      spdlog::error("{} run(s) did not end after SIGKILL; stopping without them", running_);
      break;
    }
    serve();
  }
  // Then what they published, for at most flush_timeout: with Kafka unreachable the records
  // never go, and waiting longer only gets the worker SIGKILLed with nothing logged.
  const MonoTime flush_deadline = clock_.MonoNow() + options_.flush_timeout;
  while (publisher_.Pending() > 0 && clock_.MonoNow() < flush_deadline) serve();
  if (publisher_.Pending() > 0) {
    std::vector<std::string> runs = publisher_.PendingKeys();
    std::sort(runs.begin(), runs.end());
    runs.erase(std::unique(runs.begin(), runs.end()), runs.end());
    metrics_.records_unflushed.Add(static_cast<double>(publisher_.Pending()));
    spdlog::error(
        "stopping with {} record(s) of {} run(s) not acknowledged by Kafka after {}ms (is it "
        "reachable?); their offsets stay uncommitted, so another worker runs them again: {}",
        publisher_.Pending(), runs.size(), options_.flush_timeout.count(), fmt::join(runs, ", "));
  }
  Commit();
  consumer_.Close();
  spdlog::info("worker stopped after {} run(s)", completed_);
}

}  // namespace krond::worker
