#include "scheduler/ha_scheduler.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>

#include "common/time_format.h"
#include "scheduler/scheduler_service.h"

namespace krond::scheduler {
namespace {
constexpr std::chrono::milliseconds kIdleWake{100};

double UnixSeconds(SystemTime t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}
}  // namespace

HaScheduler::HaScheduler(const Clock& clock, ProducerFactory new_producer, StateReader read_state,
                         SchedulerMetrics& metrics, messages::TopicNames topics,
                         config::JobFile file, HaOptions options)
    : clock_(clock),
      new_producer_(std::move(new_producer)),
      read_state_(std::move(read_state)),
      metrics_(metrics),
      topics_(std::move(topics)),
      file_(config::JobFile{file.path, file.clusters, {}}),
      jobs_(std::move(file.jobs)),
      options_(options) {
  for (const auto& job : jobs_) {
    metrics_.runs_fired.WithLabels({job.name, job.cluster});
    metrics_.fire_lag.WithLabels({job.cluster});
  }
  metrics_.active.Set(0);
  UpdateGauges();
}

HaScheduler::~HaScheduler() { Stop(); }

void HaScheduler::SetLeader(bool leader) {
  if (leader && !leader_) holdoff_until_.reset();  // a fresh assignment: try at once
  leader_ = leader;
  if (!leader_ && active_) Deactivate("leadership lost", /*fenced=*/false);
}

void HaScheduler::Stop() {
  if (active_) Deactivate("stopping", /*fenced=*/false);
}

void HaScheduler::Deactivate(const std::string& why, bool fenced) {
  if (txn_ != Txn::kNone && producer_) {
    // Best effort: if this fails the next leader's InitTransactions aborts it anyway.
    (void)producer_->AbortTransaction(std::chrono::milliseconds(1000));
  }
  spdlog::warn("scheduler standby: {}; {} uncommitted run(s) left to the next active scheduler",
               why, batch_.size());
  producer_.reset();
  scheduler_.reset();
  batch_.clear();
  skipped_.clear();
  txn_ = Txn::kNone;
  if (active_) metrics_.leadership_changes.Inc();
  active_ = false;
  metrics_.active.Set(0);
  if (fenced) {
    metrics_.fenced.Inc();
    holdoff_until_ = clock_.MonoNow() + options_.fenced_holdoff;
  }
  UpdateGauges();
}

bool HaScheduler::TakeOver(SystemTime now) {
  const MonoTime start = clock_.MonoNow();
  auto producer = new_producer_();
  if (!producer) {
    spdlog::warn("takeover: cannot create the producer: {}", producer.error().message);
    return false;
  }
  // Fences every older producer of the same transactional.id and aborts its open
  // transaction, so the state read below is final.
  if (auto init = (*producer)->InitTransactions(options_.txn_timeout); !init) {
    spdlog::warn("takeover: {}; retrying", init.error().message);
    return false;
  }
  auto records = read_state_();
  if (!records) {
    spdlog::warn("takeover: cannot read {}: {}; retrying", topics_.State(),
                 records.error().message);
    return false;
  }
  LastFired last;
  size_t bad = 0;
  for (const auto& r : *records) {
    auto state = DecodeFireState(r.value);
    if (!state) {
      ++bad;
      continue;
    }
    auto [it, inserted] = last.emplace(state->job, state->last_fired);
    if (!inserted) it->second = std::max(it->second, state->last_fired);
  }
  if (bad > 0) spdlog::warn("takeover: ignored {} undecodable state record(s)", bad);
  now = std::max(now, clock_.Now());
  scheduler_.emplace(jobs_, now);
  scheduler_->StartAfter(last, now);
  CatchUpPlan plan = PlanCatchUp(jobs_, last, now);
  batch_.clear();
  skipped_.clear();
  Queue(plan.runs, now);
  metrics_.catch_up.WithLabels({"fired"}).Add(static_cast<double>(plan.runs.size()));
  metrics_.catch_up.WithLabels({"skipped"}).Add(static_cast<double>(plan.skipped_by_policy));
  metrics_.catch_up.WithLabels({"dropped"}).Add(static_cast<double>(plan.dropped_by_deadline));
  producer_ = std::move(*producer);
  txn_ = Txn::kNone;
  active_ = true;
  metrics_.active.Set(1);
  metrics_.leadership_changes.Inc();
  const auto took = std::chrono::duration<double>(clock_.MonoNow() - start).count();
  metrics_.takeover_seconds.Set(took);
  spdlog::info(
      "scheduler active: took over in {:.0f} ms; state of {} job(s) restored from {}; "
      "catch-up: {} run(s) to fire, {} skipped (catch_up), {} dropped (starting_deadline)",
      took * 1000, last.size(), topics_.State(), plan.runs.size(), plan.skipped_by_policy,
      plan.dropped_by_deadline);
  UpdateGauges();
  return true;
}

SystemTime HaScheduler::Step(SystemTime now) {
  if (!leader_) {
    if (active_) Deactivate("leadership lost", false);
    return now + kIdleWake;
  }
  if (!active_) {
    if (holdoff_until_ && clock_.MonoNow() < *holdoff_until_) return now + kIdleWake;
    if (!TakeOver(now)) return now + options_.retry_delay;
  }
  if (producer_) producer_->Poll(std::chrono::milliseconds(0));

  if (txn_ == Txn::kAborting) {
    if (auto ok = producer_->AbortTransaction(options_.txn_timeout); !ok) {
      return Failed(ok.error(), now);
    }
    txn_ = Txn::kNone;
  }
  if (txn_ == Txn::kNone) {
    Queue(scheduler_->Tick(now), now);
    if (!batch_.empty() || !skipped_.empty()) {
      if (auto ok = producer_->BeginTransaction(); !ok) return Failed(ok.error(), now);
      txn_ = Txn::kCommitting;
      std::map<std::string, SystemTime> last = skipped_;
      for (const auto& task : batch_) {
        last[task.job] = std::max(last[task.job], task.scheduled_at);
        kafka::ProduceStatus sent = producer_->Produce(topics_.Tasks(task.cluster), task.run_id,
                                                       messages::Encode(task), nullptr);
        if (!sent) {
          metrics_.produce_errors.Inc();
          spdlog::warn("fire transaction: {}; aborting, will send again", sent.error().message);
          return Failed({kafka::TxnErrorKind::kAbortable, sent.error().message}, now);
        }
      }
      for (const auto& [job, at] : last) {
        kafka::ProduceStatus sent =
            producer_->Produce(topics_.State(), job, EncodeFireState({job, at}), nullptr);
        if (!sent) {
          metrics_.produce_errors.Inc();
          return Failed({kafka::TxnErrorKind::kAbortable, sent.error().message}, now);
        }
      }
    }
  }
  if (txn_ == Txn::kCommitting) {
    if (auto ok = producer_->CommitTransaction(options_.txn_timeout); !ok) {
      return Failed(ok.error(), now);
    }
    Committed(clock_.Now());
  }
  UpdateGauges();
  std::optional<SystemTime> next = scheduler_ ? scheduler_->NextFireTime() : std::nullopt;
  return next ? *next : now + std::chrono::seconds(1);
}

void HaScheduler::Queue(std::vector<DueRun> runs, SystemTime now) {
  if (pauses_ != nullptr) {
    for (const DueRun& run : pauses_->TakePaused(runs, jobs_)) {
      const std::string& job = jobs_[run.job].name;
      metrics_.fires_skipped.WithLabels({"paused"}).Inc();
      spdlog::info("skipped {} fire {}: the job is paused", job,
                   FormatRfc3339Utc(run.scheduled_at));
      skipped_[job] = std::max(skipped_[job], run.scheduled_at);
    }
  }
  for (const DueRun& run : runs) {
    batch_.push_back(MakeTaskMessage(jobs_[run.job], run.scheduled_at, now));
  }
}

SystemTime HaScheduler::Failed(const kafka::TxnError& error, SystemTime now) {
  switch (error.kind) {
    case kafka::TxnErrorKind::kRetriable:
      // Same call again later (a commit that timed out may still complete).
      spdlog::warn("fire transaction: {}; retrying", error.message);
      break;
    case kafka::TxnErrorKind::kAbortable:
      spdlog::warn("fire transaction: {}; aborting, {} run(s) will be sent again", error.message,
                   batch_.size());
      if (txn_ != Txn::kAborting) metrics_.txn_aborts.Inc();
      txn_ = Txn::kAborting;
      break;
    case kafka::TxnErrorKind::kFenced:
      spdlog::error("fenced: another scheduler replica is active ({})", error.message);
      Deactivate("fenced by a newer active scheduler", /*fenced=*/true);
      break;
    case kafka::TxnErrorKind::kFatal:
      spdlog::error("fire transaction: fatal producer error: {}", error.message);
      // A new producer re-reads the state: a fatal error may hide a fence.
      Deactivate("producer failed", /*fenced=*/false);
      break;
  }
  UpdateGauges();
  return now + options_.retry_delay;
}

void HaScheduler::Committed(SystemTime acked) {
  for (const auto& task : batch_) {
    metrics_.runs_fired.WithLabels({task.job, task.cluster}).Inc();
    metrics_.fire_lag.WithLabels({task.cluster})
        .ObserveDuration(std::max(acked - task.scheduled_at, std::chrono::milliseconds(0)));
    if (spdlog::should_log(spdlog::level::info)) {
      spdlog::info("fired {} run {} scheduled {} lag {}ms", task.job, task.run_id,
                   FormatRfc3339Utc(task.scheduled_at), (acked - task.scheduled_at).count());
    }
  }
  fired_ += batch_.size();
  batch_.clear();
  skipped_.clear();
  txn_ = Txn::kNone;
}

void HaScheduler::Replace(config::JobFile file, SystemTime now) {
  for (const auto& job : file.jobs) {
    metrics_.runs_fired.WithLabels({job.name, job.cluster});
    metrics_.fire_lag.WithLabels({job.cluster});
  }
  file_.clusters = file.clusters;
  file_.path = file.path;
  jobs_ = file.jobs;
  if (scheduler_) scheduler_->Replace(std::move(file.jobs), now);
  spdlog::info("loaded {} job(s) from {}", jobs_.size(), file_.path);
  UpdateGauges();
}

void HaScheduler::UpdateGauges() {
  metrics_.jobs_loaded.Set(static_cast<double>(jobs_.size()));
  auto next = scheduler_ ? scheduler_->NextFireTime() : std::nullopt;
  metrics_.next_fire.Set(next ? UnixSeconds(*next) : 0.0);
  metrics_.runs_pending.Set(static_cast<double>(batch_.size()));
}

}  // namespace krond::scheduler
