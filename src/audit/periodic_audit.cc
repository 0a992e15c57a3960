#include "audit/periodic_audit.h"

#include <spdlog/spdlog.h>

#include "common/time_format.h"

namespace krond::audit {
namespace {
constexpr size_t kLoggedFindings = 20;
}  // namespace

AuditMetrics::AuditMetrics(metrics::Registry& r)
    : findings(r.AddCounter("krond_scheduler_audit_findings_total",
                            "Scheduled instants the periodic audit found not fired exactly once "
                            "with a result, by problem (missing and doubled must stay 0).",
                            {"problem"})),
      rounds(r.AddCounter("krond_scheduler_audit_rounds_total",
                          "Periodic audit rounds, by result (clean, findings, failed, too_large).",
                          {"result"})),
      audited_until(r.AddGauge("krond_scheduler_audit_until_timestamp_seconds",
                               "End of the last window the periodic audit judged (Unix time).")
                        .Get()) {
  for (Problem p : {Problem::kMissing, Problem::kDoubled, Problem::kSkipped, Problem::kLate,
                    Problem::kNoResult}) {
    findings.WithLabels({std::string(ProblemName(p))});
  }
  for (const char* result : {"clean", "findings", "failed", "too_large"}) {
    rounds.WithLabels({result});
  }
}

PeriodicAudit::PeriodicAudit(const Clock& clock, TopicScanner scan, messages::TopicNames topics,
                             AuditMetrics& metrics, PeriodicAuditOptions options)
    : clock_(clock),
      scan_(std::move(scan)),
      topics_(std::move(topics)),
      metrics_(metrics),
      options_(options) {}

PeriodicAudit::~PeriodicAudit() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void PeriodicAudit::Start() {
  if (options_.interval.count() <= 0) {
    spdlog::info("periodic audit off (--audit-interval 0)");
    return;
  }
  thread_ = std::thread([this] { Loop(); });
}

void PeriodicAudit::SetActive(bool active, SystemTime now) {
  std::lock_guard lock(mu_);
  if (active && !active_) audited_until_ = now - options_.settle - options_.interval;
  active_ = active;
}

void PeriodicAudit::SetJobs(const std::vector<config::Job>& jobs,
                            const std::vector<std::string>& clusters) {
  std::shared_ptr<const std::vector<JobCalendar>> calendars;
  if (jobs.size() <= options_.max_jobs) {
    calendars = std::make_shared<const std::vector<JobCalendar>>(Calendars(jobs));
  } else if (options_.interval.count() > 0) {
    spdlog::warn("periodic audit off: {} jobs is more than {}; run `krond audit` instead",
                 jobs.size(), options_.max_jobs);
  }
  std::lock_guard lock(mu_);
  jobs_ = std::move(calendars);
  clusters_ = clusters;
}

void PeriodicAudit::Loop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    wake_.wait_for(lock, options_.interval, [this] { return stop_; });
    if (stop_ || !active_) continue;
    lock.unlock();
    RunOnce(clock_.Now());
    lock.lock();
  }
}

void PeriodicAudit::RunOnce(SystemTime now) {
  std::shared_ptr<const std::vector<JobCalendar>> jobs;
  std::vector<std::string> clusters;
  SystemTime since;
  {
    std::lock_guard lock(mu_);
    if (!jobs_ || !audited_until_) return;
    jobs = jobs_;
    clusters = clusters_;
    since = *audited_until_ + std::chrono::milliseconds(1);
  }
  const SystemTime until = now - options_.settle;
  if (until < since) return;
  Options options;
  options.since = since;
  options.until = until;
  Auditor auditor(*jobs, options);
  // A lookback as long as the window: jobs that fired before it are judged over all of it.
  auto collected =
      Collect(scan_, topics_, clusters, since - (until - since), options_.max_records, auditor);
  if (!collected) {
    metrics_.rounds.WithLabels({collected.error().too_large ? "too_large" : "failed"}).Inc();
    spdlog::warn("periodic audit of {} .. {}: {}; run `krond audit` for this window",
                 FormatRfc3339Utc(since), FormatRfc3339Utc(until), collected.error().message);
    return;
  }
  Report report = auditor.Finish(now);
  size_t logged = 0;
  for (const Finding& f : report.findings) {
    metrics_.findings.WithLabels({std::string(ProblemName(f.problem))}).Inc();
    if (!f.explained() && logged++ < kLoggedFindings) {
      spdlog::error("audit: {} {} {}{}", f.job, FormatRfc3339Utc(f.scheduled_at),
                    ProblemName(f.problem), f.reason.empty() ? "" : " (" + f.reason + ")");
    }
  }
  metrics_.rounds.WithLabels({report.clean() ? "clean" : "findings"}).Inc();
  metrics_.audited_until.Set(std::chrono::duration<double>(until.time_since_epoch()).count());
  spdlog::info("periodic audit: {}", FormatSummary(report));
  std::lock_guard lock(mu_);
  audited_until_ = until;
}

}  // namespace krond::audit
