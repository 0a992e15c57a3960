#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "audit/audit.h"
#include "audit/collect.h"
#include "common/clock.h"
#include "messages/topics.h"
#include "metrics/registry.h"

namespace krond::audit {

// The audit's counts, exported by the active scheduler (docs/metrics.md).
struct AuditMetrics {
  explicit AuditMetrics(metrics::Registry& r);
  // Findings of the periodic audit {problem="missing"|"doubled"|"skipped"|"late"|"no_result"};
  // each instant is judged once, so missing and doubled must stay 0.
  metrics::Family<metrics::Counter>& findings;
  // Rounds {result="clean"|"findings"|"failed"|"too_large"}.
  metrics::Family<metrics::Counter>& rounds;
  // Unix time of the end of the last window audited; 0 before the first round.
  metrics::Gauge& audited_until;
};

struct PeriodicAuditOptions {
  // How often a round runs, and how far back the first round after a takeover looks (so a
  // failover's gap is judged). 0 turns the periodic audit off. Default: 5 minutes.
  std::chrono::milliseconds interval{300'000};
  // Instants younger than this are left to the next round: their fire may not be committed
  // or read yet. Default: 1 minute.
  std::chrono::milliseconds settle{60'000};
  // A round reading more records than this gives up (counted as too_large): the audit must
  // never cost the scheduler more than a bounded share of its time. Default: 2,000,000.
  size_t max_records = 2'000'000;
  // With more jobs the periodic audit is off (it keeps a copy of every job's calendar);
  // `krond audit` still works. Default: 100,000.
  size_t max_jobs = 100'000;
};

// A background thread that, while this scheduler replica is active, audits the window since
// its last round (Collect + Auditor) and counts the findings in AuditMetrics, logging each
// unexplained one. Cost: one read of the task, result and skip topics of every window
// (plus the same length of lookback), on its own thread and its own consumers.
// Thread-safe: Update may be called from the scheduler's loop while the thread runs.
class PeriodicAudit {
 public:
  PeriodicAudit(const Clock& clock, TopicScanner scan, messages::TopicNames topics,
                AuditMetrics& metrics, PeriodicAuditOptions options);
  ~PeriodicAudit();
  PeriodicAudit(const PeriodicAudit&) = delete;
  PeriodicAudit& operator=(const PeriodicAudit&) = delete;

  // Starts the thread (no-op when the interval is 0).
  void Start();
  // Whether this replica is active; becoming active audits from one interval back.
  void SetActive(bool active, SystemTime now);
  // The jobs and clusters to judge (after a load or reload).
  void SetJobs(const std::vector<config::Job>& jobs, const std::vector<std::string>& clusters);
  // One round at `now`, on the caller's thread (the thread calls it; tests too).
  void RunOnce(SystemTime now);

 private:
  void Loop();

  const Clock& clock_;
  TopicScanner scan_;
  messages::TopicNames topics_;
  AuditMetrics& metrics_;
  PeriodicAuditOptions options_;

  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;                                     // guarded by mu_
  bool active_ = false;                                   // guarded by mu_
  std::optional<SystemTime> audited_until_;               // guarded by mu_
  std::shared_ptr<const std::vector<JobCalendar>> jobs_;  // guarded by mu_
  std::vector<std::string> clusters_;                     // guarded by mu_
  std::thread thread_;
};

}  // namespace krond::audit
