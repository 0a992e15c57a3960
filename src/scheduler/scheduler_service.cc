#include "scheduler/scheduler_service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <unordered_map>

#include "common/time_format.h"
#include "scheduler/job_catalog.h"

namespace krond::scheduler {
namespace {

using std::chrono::milliseconds;

constexpr milliseconds kStandbyWake{100};
// Most lease records handled per step: a long backlog must not starve firing.
constexpr int kLeaseRecordsPerStep = 1000;
// A best-effort abort while giving up the lead.
constexpr milliseconds kQuickAbort{500};
constexpr milliseconds kWarmUpTimeout{1000};

double UnixSeconds(SystemTime t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

double Ms(MonoTime::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

}  // namespace

SchedulerService::SchedulerService(const Clock& clock, ProducerFactory new_producer,
                                   StateReader read_state, kafka::PartitionFollower& lease,
                                   SchedulerMetrics& metrics, messages::TopicNames topics,
                                   config::JobFile file, ServiceOptions options)
    : clock_(clock),
      new_producer_(std::move(new_producer)),
      read_state_(std::move(read_state)),
      lease_follower_(lease),
      metrics_(metrics),
      topics_(std::move(topics)),
      file_(config::JobFile{file.path, file.clusters, {}}),
      options_(std::move(options)),
      scheduler_(std::move(file.jobs), clock.Now(), options_.dispatch_ahead),
      watch_(options_.lease, options_.owner, options_.seed) {
  watch_.Reset(clock_.MonoNow());
  CacheHandles();
  metrics_.active.Set(0);
  UpdateGauges();
}

SchedulerService::~SchedulerService() {
  if (active_) Deactivate("stopping without a hand-over", /*fenced=*/false);
}

void SchedulerService::CacheHandles() {
  // A label lookup takes a lock and a map search, and a topic name is built from its parts:
  // done here once per job and cluster, not per fire.
  job_handles_.clear();
  job_handles_.reserve(scheduler_.jobs().size());
  for (const auto& job : scheduler_.jobs()) {
    auto [cluster, added] = clusters_.try_emplace(job.cluster);
    if (added) {
      cluster->second = {&metrics_.fire_lag.WithLabels({job.cluster}), topics_.Tasks(job.cluster)};
    }
    job_handles_.push_back(
        {&metrics_.runs_fired.WithLabels({job.name, job.cluster}), &cluster->second});
    // At 0 from the start, as runs_fired: the skip counter of a job is then a series before
    // its first skip, which alerts and dashboards can rely on.
    metrics_.fires_skipped.WithLabels({job.name, "catch_up"});
  }
}

// ---- Standby ----------------------------------------------------------------------------

void SchedulerService::FollowLease(milliseconds first_wait) {
  milliseconds wait = first_wait;
  for (int i = 0; i < kLeaseRecordsPerStep; ++i, wait = milliseconds(0)) {
    auto polled = lease_follower_.Poll(wait);
    if (!polled) {
      spdlog::debug("lease: {}", polled.error().message);
      break;
    }
    if (!polled->has_value()) break;
    HandleLeaseRecord(**polled);
  }
  if (!active_ && lease_follower_.AtEnd()) watch_.CaughtUp(clock_.MonoNow());
}

void SchedulerService::HandleLeaseRecord(const kafka::ConsumedMessage& m) {
  auto record = messages::DecodeLeaseRecord(m.value);
  if (!record) {
    spdlog::warn("lease: ignored a record at {}[{}]@{}: {}", m.topic, m.partition, m.offset,
                 record.error().message);
    return;
  }
  if (!active_) {
    watch_.Observe(*record, clock_.MonoNow());
    return;
  }
  // The log is ordered: another owner's heartbeat after our own claim means it took over
  // (its InitTransactions fenced us), even if our next commit has not failed yet.
  if (record->owner == options_.owner) {
    seen_own_heartbeat_ = true;
  } else if (seen_own_heartbeat_) {
    spdlog::error("fenced: {} took the lease", record->owner);
    Deactivate("another scheduler took over (" + record->owner + ")", /*fenced=*/true);
  }
}

SystemTime SchedulerService::Step(SystemTime now) {
  if (stopped_) return now + std::chrono::seconds(1);
  FollowLease(milliseconds(0));
  return active_ ? StepActive(now) : StepStandby(now);
}

SystemTime SchedulerService::StepStandby(SystemTime now) {
  const MonoTime mono = clock_.MonoNow();
  metrics_.lease_age.Set(std::chrono::duration<double>(watch_.Silence(mono)).count());
  if (retry_at_ && mono < *retry_at_) return now + std::min(kStandbyWake, Until(*retry_at_));
  retry_at_.reset();
  // Ready before it is needed: creating a producer and looking up its topics cost a takeover
  // about a second (librdkafka's topic scan); InitTransactions is what fences, not this.
  (void)PrepareProducer();
  const LeaseWatch::Verdict verdict = watch_.Check(mono);
  if (verdict == LeaseWatch::Verdict::kHeld && init_timed_out_) {
    // A takeover whose InitTransactions timed out, and the lease is held again (Kafka was
    // back for the active scheduler first): start the next takeover from a new producer.
    init_timed_out_ = false;
    initializing_.reset();
  }
  switch (verdict) {
    case LeaseWatch::Verdict::kExpired:
      spdlog::info("lease expired: no heartbeat{} for {} ms; taking over in {} ms",
                   watch_.last_owner().empty() ? "" : " from " + watch_.last_owner(),
                   watch_.Silence(mono).count(),
                   std::chrono::duration_cast<milliseconds>(watch_.NextCheck() - mono).count());
      break;
    case LeaseWatch::Verdict::kTakeOver:
      if (TakeOver(now)) return StepActive(std::max(now, clock_.Now()));
      retry_at_ = clock_.MonoNow() + options_.retry_delay;
      return now + std::min(kStandbyWake, options_.retry_delay);
    case LeaseWatch::Verdict::kHeld:
    case LeaseWatch::Verdict::kWaiting:
      break;
  }
  return now + std::clamp(Until(watch_.NextCheck()), milliseconds(0), kStandbyWake);
}

milliseconds SchedulerService::Until(MonoTime t) const {
  return std::max(milliseconds(0), std::chrono::duration_cast<milliseconds>(t - clock_.MonoNow()));
}

bool SchedulerService::PrepareProducer() {
  if (initializing_) return true;
  auto producer = new_producer_();
  if (!producer) {
    spdlog::warn("takeover: cannot create the producer: {}", producer.error().message);
    return false;
  }
  initializing_ = std::move(*producer);
  std::vector<std::string> topics = {topics_.Leader(), topics_.State(), topics_.Skips()};
  for (const auto& [cluster, handles] : clusters_) topics.push_back(handles.task_topic);
  if (auto warm = initializing_->WarmUp(topics, kWarmUpTimeout); !warm) {
    spdlog::debug("takeover: {}; the first transaction may wait for it", warm.error().message);
  }
  return true;
}

bool SchedulerService::TakeOver(SystemTime now) {
  const MonoTime start = clock_.MonoNow();
  if (!PrepareProducer()) return false;
  // Fences every older producer of the same transactional.id and aborts its open
  // transaction, so the state read below is final.
  if (auto init = initializing_->InitTransactions(options_.txn_call_timeout); !init) {
    spdlog::warn("takeover: {}; retrying", init.error().message);
    init_timed_out_ = init.error().kind == kafka::TxnErrorKind::kRetriable;
    if (!init_timed_out_) initializing_.reset();
    return false;
  }
  init_timed_out_ = false;
  const MonoTime fenced_at = clock_.MonoNow();
  producer_ = std::move(initializing_);
  // A heartbeat at once: standbys whose jitter ends later see it and stand down.
  seen_own_heartbeat_ = false;
  ++generation_;
  if (auto claim = CommitHeartbeat(now); !claim) {
    spdlog::warn("takeover: claiming the lease: {}; standing by", claim.error().message);
    producer_.reset();
    watch_.Reset(clock_.MonoNow());
    return false;
  }
  const MonoTime claimed_at = clock_.MonoNow();

  // A large state topic can take longer to read than a lease timeout: heartbeats go on
  // meanwhile, or the other standbys would take over in turn, each fencing the previous.
  // Removed jobs' records of the last kMaxDispatchAhead and later: a run the previous
  // scheduler dispatched ahead for a job since removed must not fire again if it comes back.
  StateRestorer restorer(scheduler_.jobs(), now - config::kMaxDispatchAhead);
  kafka::TxnStatus kept;
  auto read = read_state_([&](const kafka::ConsumedMessage& m) {
    restorer.Add(m.value);
    if (clock_.MonoNow() - last_heartbeat_ >= options_.lease.heartbeat_interval) {
      kept = CommitHeartbeat(std::max(now, clock_.Now()));
    }
    return kept.has_value();
  });
  if (!read || !kept) {
    spdlog::warn("takeover: cannot read {}: {}; retrying", topics_.State(),
                 read ? kept.error().message : read.error().message);
    producer_.reset();
    watch_.Reset(clock_.MonoNow());
    return false;
  }
  RestoredState state = restorer.Take();
  if (state.undecodable > 0) {
    spdlog::warn("takeover: ignored {} undecodable record(s) of {}", state.undecodable,
                 topics_.State());
  }
  const MonoTime read_at = clock_.MonoNow();
  now = std::max(now, clock_.Now());
  CatchUpOptions catch_up;
  catch_up.handover_since = watch_.HandoverSince(read_at);
  CatchUpPlan plan = PlanCatchUp(scheduler_.jobs(), state.handled, now, catch_up);
  scheduler_.StartAfter(state.handled, now, std::move(state.removed));
  fence_ = state.fence;
  batch_ = {};
  ready_.clear();
  SkipPaused(plan.runs, now);
  due_.assign(plan.runs.begin(), plan.runs.end());
  for (const SkipRange& skip : plan.skips) {
    const std::string& job = scheduler_.jobs()[skip.job].name;
    batch_.skips.push_back({job, skip.reason, skip.first, skip.last, skip.count, now, ""});
    metrics_.fires_skipped.WithLabels({job, std::string(messages::SkipReasonName(skip.reason))})
        .Add(static_cast<double>(std::max<int64_t>(skip.count, 1)));
  }
  for (const auto& [job, at] : plan.decided) batch_.decided[scheduler_.jobs()[job].name] = at;
  metrics_.catch_up.WithLabels({"fired"}).Add(static_cast<double>(plan.runs.size()));
  metrics_.catch_up.WithLabels({"skipped"}).Add(static_cast<double>(plan.skipped_by_policy));
  metrics_.catch_up.WithLabels({"dropped"}).Add(static_cast<double>(plan.dropped_by_deadline));
  const MonoTime planned_at = clock_.MonoNow();

  active_ = true;
  txn_ = Txn::kNone;
  retry_at_.reset();
  resigned_ = false;
  lease_lapsed_ = false;
  // The claim and the heartbeats during the state read renewed the lease.
  last_commit_ = last_heartbeat_;
  metrics_.active.Set(1);
  metrics_.leadership_changes.Inc();
  const double took = Ms(planned_at - start);
  metrics_.takeover_seconds.Set(took / 1000);
  spdlog::info(
      "scheduler active: took over in {:.0f} ms (fence {:.0f} ms, claim {:.0f} ms, state "
      "{:.0f} ms: {} record(s), {} job(s) known, plan {:.0f} ms); catch-up: {} run(s) to fire, "
      "{} skipped (catch_up), {} dropped (starting_deadline){}",
      took, Ms(fenced_at - start), Ms(claimed_at - fenced_at), Ms(read_at - claimed_at),
      state.records,
      std::count_if(state.handled.begin(), state.handled.end(),
                    [](const auto& h) { return h.has_value(); }),
      Ms(planned_at - read_at), plan.runs.size(), plan.skipped_by_policy, plan.dropped_by_deadline,
      catch_up.handover_since ? "; hand-over: every run due since " +
                                    FormatRfc3339Utc(*catch_up.handover_since) + " fires"
                              : "");
  UpdateGauges();
  return true;
}

// ---- Active -----------------------------------------------------------------------------

SystemTime SchedulerService::StepActive(SystemTime now) {
  if (!active_) return now + kStandbyWake;
  const MonoTime mono = clock_.MonoNow();
  if (mono - last_commit_ >= options_.lease.timeout && !lease_lapsed_) {
    // A standby may take over now, and fencing would stop us. We keep the batch and keep
    // trying rather than step down: with Kafka unreachable nobody can take over, and when it
    // is back these runs fire late instead of being left to another replica's catch_up.
    lease_lapsed_ = true;
    spdlog::warn(
        "lease not renewed for {} ms (Kafka unreachable?): a standby may take over; "
        "still trying to commit {} run(s)",
        std::chrono::duration_cast<milliseconds>(mono - last_commit_).count(), pending());
  }
  const SystemTime wake = Advance(now, /*resign=*/false, options_.txn_call_timeout);
  UpdateGauges();
  return wake;
}

SystemTime SchedulerService::Advance(SystemTime now, bool resign, milliseconds call_timeout) {
  producer_->Poll(milliseconds(0));
  if (txn_ == Txn::kAborting) {
    if (auto ok = producer_->AbortTransaction(call_timeout); !ok) return Failed(ok.error(), now);
    txn_ = Txn::kNone;
    ++generation_;  // reports of the aborted records are purge errors: ignore them
    retry_at_ = clock_.MonoNow() + options_.retry_delay;
  }
  if (txn_ == Txn::kNone) {
    const MonoTime mono = clock_.MonoNow();
    if (retry_at_ && mono < *retry_at_ && !resign) return now + Until(*retry_at_);
    retry_at_.reset();
    // Also when resigning: the resigned heartbeat says every run due through `now` fired.
    FillBatch(now);
    const bool heartbeat_due =
        resign || mono - last_heartbeat_ >= options_.lease.heartbeat_interval;
    if (batch_.empty() && !heartbeat_due) return IdleWake(now);
    if (auto ok = producer_->BeginTransaction(); !ok) return Failed(ok.error(), now);
    txn_ = Txn::kCommitting;
    if (auto ok = ProduceBatch(now, resign && due_.empty() && ready_.empty()); !ok) {
      return Failed(ok.error(), now);
    }
  }
  if (txn_ == Txn::kCommitting) {
    if (auto ok = producer_->CommitTransaction(call_timeout); !ok) return Failed(ok.error(), now);
    Committed(clock_.Now());
  }
  return due_.empty() && ready_.empty() ? IdleWake(now) : now;
}

SystemTime SchedulerService::IdleWake(SystemTime now) const {
  SystemTime wake = now + Until(last_heartbeat_ + options_.lease.heartbeat_interval);
  if (auto next = scheduler_.NextDispatchTime()) wake = std::min(wake, std::max(*next, now));
  return wake;
}

void SchedulerService::FillBatch(SystemTime now) {
  std::vector<DueRun> due = scheduler_.Tick(now);
  SkipPaused(due, now);
  due_.insert(due_.end(), due.begin(), due.end());
  while (batch_.fires.size() < options_.max_fires_per_transaction && !ready_.empty()) {
    batch_.fires.push_back(std::move(ready_.front()));
    ready_.pop_front();
  }
  while (batch_.fires.size() < options_.max_fires_per_transaction && !due_.empty()) {
    batch_.fires.push_back(MakeFire(due_.front().job, due_.front().scheduled_at, now));
    due_.pop_front();
  }
}

void SchedulerService::SkipPaused(std::vector<DueRun>& runs, SystemTime now) {
  if (pauses_ == nullptr || pauses_->paused_count() == 0) return;
  for (const DueRun& run : pauses_->TakePaused(runs, scheduler_.jobs())) {
    const std::string& job = scheduler_.jobs()[run.job].name;
    metrics_.fires_skipped.WithLabels({job, "paused"}).Inc();
    spdlog::info("skipped {} fire {}: the job is paused", job, FormatRfc3339Utc(run.scheduled_at));
    SystemTime& decided = batch_.decided[job];
    decided = std::max(decided, run.scheduled_at);
    auto [it, added] = batch_.paused.try_emplace(job, batch_.skips.size());
    if (added) {
      batch_.skips.push_back(
          {job, messages::SkipReason::kPaused, run.scheduled_at, run.scheduled_at, 0, now, ""});
    }
    messages::SkipRecord& skip = batch_.skips[it->second];
    skip.first = std::min(skip.first, run.scheduled_at);
    skip.last = std::max(skip.last, run.scheduled_at);
    ++skip.count;
  }
}

SchedulerService::Fire SchedulerService::MakeFire(uint32_t job, SystemTime scheduled_at,
                                                  SystemTime now) {
  messages::TaskMessage task = MakeTaskMessage(scheduler_.jobs()[job], scheduled_at, now, ++fence_);
  Fire fire;
  auto value = options_.signer.Seal(task);
  // Only a libsodium that cannot start fails a signature: firing unsigned instead
  // would have every verifying worker refuse the run, so stop loudly.
  if (!value) {
    spdlog::critical("cannot sign {} run {}: {}", task.job, task.run_id, value.error().message);
    std::abort();
  }
  fire.value = std::move(*value);
  fire.run_id = std::move(task.run_id);
  fire.job = std::move(task.job);
  fire.scheduled_at = scheduled_at;
  fire.dispatch_at = scheduled_at - scheduler_.DispatchAheadOf(job);
  fire.fence = fence_;
  fire.handles = job_handles_[job];
  return fire;
}

kafka::TxnStatus SchedulerService::ProduceHeartbeat(SystemTime now, bool resign) {
  last_heartbeat_ = clock_.MonoNow();
  kafka::ProduceStatus sent = producer_->Produce(
      topics_.Leader(), messages::kLeaseKey,
      messages::Encode(messages::LeaseRecord{options_.owner, resign, now}), nullptr);
  if (!sent) return RecordFailure(topics_.Leader(), sent.error());
  return {};
}

kafka::TxnStatus SchedulerService::CommitHeartbeat(SystemTime now) {
  auto done = producer_->BeginTransaction();
  if (done) done = ProduceHeartbeat(now, /*resign=*/false);
  if (done) done = producer_->CommitTransaction(options_.txn_call_timeout);
  if (!done && done.error().kind != kafka::TxnErrorKind::kFenced) {
    (void)producer_->AbortTransaction(kQuickAbort);
  }
  return done;
}

kafka::TxnStatus SchedulerService::RecordFailure(const std::string& topic,
                                                 const kafka::ProduceError& error) {
  // The scheduler's own records cannot be left out (exactly-once depends on them): abort and
  // send the transaction again. A permanent error here stops all firing, hence an error line.
  metrics_.produce_errors.Inc();
  if (kafka::IsPermanent(error.kind)) {
    spdlog::error("fire transaction: {} cannot be written ({}): {}", topic,
                  kafka::ProduceErrorName(error.kind), error.message);
  }
  return tl::unexpected(kafka::TxnError{kafka::TxnErrorKind::kAbortable, error.message});
}

kafka::TxnStatus SchedulerService::ProduceBatch(SystemTime now, bool resign) {
  const uint64_t generation = generation_ & 0xffffffff;
  batch_resigns_ = resign;
  // Per job: its latest scheduled instant in this transaction and that fire's fence.
  std::unordered_map<std::string_view, std::pair<SystemTime, int64_t>> latest;
  latest.reserve(batch_.fires.size() + batch_.decided.size());
  for (size_t i = 0; i < batch_.fires.size(); ++i) {
    Fire& fire = batch_.fires[i];
    latest[fire.job] = {fire.scheduled_at, fire.fence};
    if (fire.rejected) {
      if (!fire.recorded) Reject(fire);
      continue;
    }
    // Generation and index in one word: with `this`, the capture fits std::function's inline
    // storage, so a fire costs no allocation here.
    const uint64_t tag = (generation << 32) | i;
    // Routed by the task's partition key (messages::PartitionKeyOf: its job name), so every
    // run of a job lands on one partition and one worker owns the job; the key is the run id.
    kafka::ProduceStatus sent = producer_->ProduceRouted(
        fire.handles.cluster->task_topic, fire.job, fire.run_id, fire.value,
        [this, tag](const kafka::DeliveryReport& report) { OnDelivery(tag, report); });
    if (sent) continue;
    if (!kafka::IsPermanent(sent.error().kind)) {
      return RecordFailure(fire.handles.cluster->task_topic, sent.error());
    }
    fire.rejected = sent.error().kind;
    fire.rejection = sent.error().message;
    Reject(fire);
  }
  for (const auto& [job, at] : batch_.decided) {
    auto [it, added] = latest.try_emplace(job, at, fence_);
    if (!added && it->second.first < at) it->second = {at, fence_};
  }
  for (const auto& [job, state] : latest) {
    kafka::ProduceStatus sent = producer_->Produce(
        topics_.State(), job,
        messages::Encode(messages::FireState{std::string(job), state.first, state.second}),
        nullptr);
    if (!sent) return RecordFailure(topics_.State(), sent.error());
  }
  for (const messages::SkipRecord& skip : batch_.skips) {
    kafka::ProduceStatus sent =
        producer_->Produce(topics_.Skips(), skip.job, messages::Encode(skip), nullptr);
    if (!sent) return RecordFailure(topics_.Skips(), sent.error());
  }
  return ProduceHeartbeat(now, resign);
}

void SchedulerService::OnDelivery(uint64_t tag, const kafka::DeliveryReport& report) {
  // Only a report of this very transaction can name one of its records; an aborted one's
  // records report purge errors, which are not permanent anyway.
  const size_t i = tag & 0xffffffff;
  if ((tag >> 32) != (generation_ & 0xffffffff) || report.status || i >= batch_.fires.size()) {
    return;
  }
  if (!kafka::IsPermanent(report.status.error().kind)) return;
  batch_.fires[i].rejected = report.status.error().kind;
  batch_.fires[i].rejection = report.status.error().message;
}

void SchedulerService::Reject(Fire& fire) {
  fire.recorded = true;
  const std::string_view reason = kafka::ProduceErrorName(*fire.rejected);
  metrics_.fires_rejected.WithLabels({std::string(reason)}).Inc();
  spdlog::error(
      "fire of {} scheduled {} (run {}, fence {}) rejected by Kafka ({}): {}; recorded as "
      "skipped in {}, the other fires go on",
      fire.job, FormatRfc3339Utc(fire.scheduled_at), fire.run_id, fire.fence, reason,
      fire.rejection, topics_.Skips());
  batch_.skips.push_back({fire.job, messages::SkipReason::kRejected, fire.scheduled_at,
                          fire.scheduled_at, 1, clock_.Now(),
                          std::string(reason) + ": " + fire.rejection});
}

SystemTime SchedulerService::Failed(const kafka::TxnError& error, SystemTime now) {
  switch (error.kind) {
    case kafka::TxnErrorKind::kRetriable:
      // Same call again (a commit that timed out may still complete).
      spdlog::warn("fire transaction: {}; retrying", error.message);
      return now;
    case kafka::TxnErrorKind::kAbortable: {
      const auto rejected = std::count_if(batch_.fires.begin(), batch_.fires.end(),
                                          [](const Fire& f) { return f.rejected && !f.recorded; });
      spdlog::warn("fire transaction: {}; aborting, {} run(s) will be sent again{}", error.message,
                   batch_.fires.size() - static_cast<size_t>(rejected),
                   rejected > 0 ? " (without " + std::to_string(rejected) + " rejected)" : "");
      if (txn_ != Txn::kAborting) metrics_.txn_aborts.Inc();
      txn_ = Txn::kAborting;
      break;
    }
    case kafka::TxnErrorKind::kFenced:
      spdlog::error("fenced: another scheduler replica is active ({})", error.message);
      Deactivate("fenced by a newer active scheduler", /*fenced=*/true);
      break;
    case kafka::TxnErrorKind::kFatal:
      spdlog::error("fire transaction: fatal producer error: {}", error.message);
      // A takeover with a new producer re-reads the state: a fatal error may hide a fence.
      Deactivate("producer failed", /*fenced=*/false);
      break;
  }
  return now + options_.retry_delay;
}

void SchedulerService::Committed(SystemTime acked) {
  for (const Fire& fire : batch_.fires) {
    if (fire.rejected) continue;
    fire.handles.fired->Inc();
    // From when it was due for dispatch, not its instant: a run dispatched ahead is acked
    // before its instant, and that is not a negative lag.
    fire.handles.cluster->lag->ObserveDuration(std::max(acked - fire.dispatch_at, milliseconds(0)));
    ++fired_;
    // Checked first: formatting the timestamp costs more than the rest of the commit, and
    // at --log-level warn the line is dropped.
    if (spdlog::should_log(spdlog::level::info)) {
      spdlog::info("fired {} run {} scheduled {} fence {} lag {}ms{}", fire.job, fire.run_id,
                   FormatRfc3339Utc(fire.scheduled_at), fire.fence,
                   (acked - fire.dispatch_at).count(),
                   fire.dispatch_at == fire.scheduled_at
                       ? ""
                       : fmt::format(" (dispatched {}ms ahead)",
                                     (fire.scheduled_at - fire.dispatch_at).count()));
    }
  }
  if (batch_resigns_) resigned_ = true;
  batch_ = {};
  txn_ = Txn::kNone;
  ++generation_;  // no report of this transaction may mark the next one's records
  last_commit_ = clock_.MonoNow();
  if (lease_lapsed_) {
    lease_lapsed_ = false;
    spdlog::info("lease renewed: committing again");
  }
}

// ---- Leaving the lead -------------------------------------------------------------------

void SchedulerService::Deactivate(const std::string& why, bool fenced) {
  if (txn_ != Txn::kNone && producer_ && !fenced) {
    // Best effort: if this fails the next leader's InitTransactions aborts it anyway.
    (void)producer_->AbortTransaction(kQuickAbort);
  }
  if (active_) {
    spdlog::warn("scheduler standby: {}; {} uncommitted run(s) left to the next active scheduler{}",
                 why, pending(), pending() > 0 ? ": " + Summary() : "");
    metrics_.leadership_changes.Inc();
  }
  producer_.reset();
  initializing_.reset();
  batch_ = {};
  ready_.clear();
  due_.clear();
  txn_ = Txn::kNone;
  ++generation_;
  active_ = false;
  metrics_.active.Set(0);
  if (fenced) metrics_.fenced.Inc();
  // Whoever leads now gets a whole lease timeout before this replica contends again.
  watch_.Reset(clock_.MonoNow());
  UpdateGauges();
}

StopReport SchedulerService::Stop(milliseconds deadline) {
  StopReport report;
  stopped_ = true;
  report.was_active = active_;
  if (!active_) return report;
  const MonoTime end = clock_.MonoNow() + deadline;
  const uint64_t before = fired_;
  // Commit what was taken from the schedule, with a resigned heartbeat in the last
  // transaction, so a standby takes over at once instead of after a lease timeout.
  while (active_ && !resigned_ && clock_.MonoNow() < end) {
    const milliseconds left = std::max(milliseconds(1), Until(end));
    // Taken before each step: a fence while stopping drops the runs (and logs them).
    report.uncommitted = pending();
    report.uncommitted_summary = Summary();
    (void)Advance(clock_.Now(), /*resign=*/true, std::min(options_.txn_call_timeout, left));
  }
  report.committed = static_cast<size_t>(fired_ - before);
  report.lost_lead = !active_;
  if (active_) {
    report.uncommitted = pending();
    report.uncommitted_summary = pending() > 0 ? Summary() : "";
    if (txn_ != Txn::kNone) (void)producer_->AbortTransaction(kQuickAbort);
    producer_.reset();
    batch_ = {};
    ready_.clear();
    due_.clear();
    txn_ = Txn::kNone;
    active_ = false;
    metrics_.active.Set(0);
    metrics_.leadership_changes.Inc();
  } else if (resigned_) {
    report.uncommitted = 0;
    report.uncommitted_summary.clear();
    report.lost_lead = false;
  }
  UpdateGauges();
  return report;
}

// ---- The loop ---------------------------------------------------------------------------

void SchedulerService::Wait(milliseconds max) {
  if (active_ && producer_) {
    producer_->Poll(max);
  } else if (!stopped_) {
    // Blocks until a lease record arrives: a resigned heartbeat is acted on at once.
    FollowLease(max);
  }
}

void SchedulerService::Run(const std::function<bool()>& stop,
                           const std::function<void()>& between_steps,
                           milliseconds shutdown_timeout) {
  auto last_hook = clock_.MonoNow();
  while (!stop()) {
    const SystemTime wake = Step(clock_.Now());
    const auto wait = std::clamp(wake - clock_.Now(), milliseconds(0), kStandbyWake);
    if (wait.count() > 0) Wait(wait);
    if (clock_.MonoNow() - last_hook >= std::chrono::seconds(1)) {
      last_hook = clock_.MonoNow();
      between_steps();
    }
  }
  const MonoTime stopping = clock_.MonoNow();
  StopReport report = Stop(shutdown_timeout);
  if (!report.was_active) {
    spdlog::info("stopping: standby, nothing to hand over");
  } else if (report.lost_lead) {
    spdlog::warn(
        "stopping: another scheduler took over while this one stopped; it owes the "
        "{} uncommitted run(s) through its catch-up",
        report.uncommitted);
  } else if (report.uncommitted == 0) {
    spdlog::info("stopping: committed {} run(s) and resigned the lease in {:.0f} ms",
                 report.committed, Ms(clock_.MonoNow() - stopping));
  } else {
    spdlog::error(
        "stopping: could not commit {} run(s) within {} ms ({}); the next active scheduler "
        "fires them per catch_up",
        report.uncommitted, shutdown_timeout.count(), report.uncommitted_summary);
  }
}

void SchedulerService::Replace(config::JobFile file, SystemTime now) {
  // Runs taken from the schedule refer to jobs by index: make them self-contained first.
  while (!due_.empty()) {
    ready_.push_back(MakeFire(due_.front().job, due_.front().scheduled_at, now));
    due_.pop_front();
  }
  const size_t count = file.jobs.size();
  file_.clusters = file.clusters;
  file_.path = file.path;
  scheduler_.Replace(std::move(file.jobs), now);
  CacheHandles();
  spdlog::info("loaded {} job(s) from {}", count, file_.path);
  UpdateGauges();
}

std::string SchedulerService::Summary() const {
  // Per job: first..last scheduled instant and count, for the few jobs a log line can hold.
  std::map<std::string, std::tuple<SystemTime, SystemTime, size_t>> by_job;
  auto add = [&by_job](const std::string& job, SystemTime at) {
    auto [it, added] = by_job.try_emplace(job, at, at, 0);
    auto& [first, last, n] = it->second;
    first = std::min(first, at);
    last = std::max(last, at);
    ++n;
  };
  for (const Fire& f : batch_.fires) add(f.job, f.scheduled_at);
  for (const Fire& f : ready_) add(f.job, f.scheduled_at);
  for (const DueRun& r : due_) add(scheduler_.jobs()[r.job].name, r.scheduled_at);
  std::string out;
  size_t shown = 0;
  for (const auto& [job, range] : by_job) {
    if (shown++ == 8) {
      out += ", and " + std::to_string(by_job.size() - 8) + " more job(s)";
      break;
    }
    const auto& [first, last, n] = range;
    if (!out.empty()) out += ", ";
    out += job + " " + FormatRfc3339Utc(first);
    if (n > 1) out += ".." + FormatRfc3339Utc(last);
    out += " (" + std::to_string(n) + ")";
  }
  return out;
}

void SchedulerService::UpdateGauges() {
  metrics_.jobs_loaded.Set(static_cast<double>(scheduler_.jobs().size()));
  auto next = active_ ? scheduler_.NextDispatchTime() : std::nullopt;
  metrics_.next_fire.Set(next ? UnixSeconds(*next) : 0.0);
  metrics_.runs_pending.Set(static_cast<double>(pending()));
  if (active_) {
    metrics_.lease_age.Set(std::chrono::duration<double>(clock_.MonoNow() - last_commit_).count());
  }
}

}  // namespace krond::scheduler
