#include "audit/periodic_audit.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include "common/time_format.h"
#include "config/job_file.h"
#include "fakes/fake_kafka.h"
#include "fakes/simulated_clock.h"
#include "messages/run_messages.h"

namespace krond::audit {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using ::testing::HasSubstr;

const SystemTime kT0 = *ParseRfc3339("2026-03-08T00:00:00Z");

class PeriodicAuditTest : public ::testing::Test {
 protected:
  PeriodicAuditTest() {
    spdlog::set_level(spdlog::level::off);
    auto file = config::ParseJobFile(
        "clusters: [c]\njobs:\n  - name: tick\n    schedule: \"*/10 * * * * *\"\n"
        "    cluster: c\n    command: x\n    timeout: 10s\n",
        "jobs.yaml");
    EXPECT_TRUE(file.has_value());
    file_ = std::move(*file);
    options_.interval = minutes(1);
    options_.settle = seconds(10);
    options_.max_records = 1000;
  }
  std::unique_ptr<PeriodicAudit> Make() {
    auto scan = [this](const std::string& topic, std::optional<SystemTime>,
                       const std::function<bool(const kafka::ConsumedMessage&)>& cb) -> Status {
      ++scans_;
      for (const auto& m : log_.Topic(topic)) {
        if (!cb({m.topic, 0, 0, m.key, m.value})) return MakeError("stopped");
      }
      return {};
    };
    auto audit = std::make_unique<PeriodicAudit>(clock_, scan, messages::TopicNames("t"), metrics_,
                                                 options_);
    audit->SetJobs(file_.jobs, file_.clusters);
    return audit;
  }
  // A fire of `at` with a result.
  void Fire(SystemTime at, const std::string& run_id) {
    messages::TaskMessage t;
    t.run_id = run_id;
    t.job = "tick";
    t.cluster = "c";
    t.scheduled_at = at;
    log_.committed.push_back({"t.tasks.c", run_id, messages::Encode(t), t.job});
    messages::ResultMessage r;
    r.run_id = run_id;
    r.job = "tick";
    log_.committed.push_back({"t.results", run_id, messages::Encode(r), ""});
  }
  std::string Metrics() const { return registry_.Render(); }

  testing::SimulatedClock clock_{kT0};
  testing::FakeTxnLog log_;
  config::JobFile file_;
  PeriodicAuditOptions options_;
  metrics::Registry registry_;
  AuditMetrics metrics_{registry_};
  int scans_ = 0;
};

TEST_F(PeriodicAuditTest, AuditsTheIntervalBeforeBecomingActiveAndCountsFindings) {
  auto audit = Make();
  const SystemTime now = kT0 + minutes(2);
  audit->RunOnce(now);
  EXPECT_EQ(scans_, 0) << "a standby does not audit";
  audit->SetActive(true, now);
  // Window: (now - 10 s - 1 min, now - 10 s] = (+50, +110]: +60 .. +110, six instants; +80
  // never fired.
  for (int s : {50, 60, 70, 90, 100, 110}) Fire(kT0 + seconds(s), "r" + std::to_string(s));
  audit->RunOnce(now);
  EXPECT_EQ(scans_, 3) << "tasks, results, skips";
  EXPECT_THAT(Metrics(),
              HasSubstr("krond_scheduler_audit_findings_total{problem=\"missing\"} 1\n"));
  EXPECT_THAT(Metrics(), HasSubstr("krond_scheduler_audit_rounds_total{result=\"findings\"} 1\n"));
  EXPECT_THAT(Metrics(), HasSubstr("krond_scheduler_audit_until_timestamp_seconds 1772928110\n"));
  // The next round starts where this one ended: +80 is not counted again.
  Fire(kT0 + seconds(120), "r120");
  audit->RunOnce(now + seconds(15));  // window (+110, +125]
  EXPECT_THAT(Metrics(),
              HasSubstr("krond_scheduler_audit_findings_total{problem=\"missing\"} 1\n"));
  EXPECT_THAT(Metrics(), HasSubstr("krond_scheduler_audit_rounds_total{result=\"clean\"} 1\n"));
}

TEST_F(PeriodicAuditTest, AWindowTooLargeToReadIsCountedAndNotJudged) {
  options_.max_records = 3;
  auto audit = Make();
  audit->SetActive(true, kT0 + minutes(2));
  for (int s = 50; s <= 110; s += 10) Fire(kT0 + seconds(s), "r" + std::to_string(s));
  audit->RunOnce(kT0 + minutes(2));
  EXPECT_THAT(Metrics(), HasSubstr("krond_scheduler_audit_rounds_total{result=\"too_large\"} 1\n"));
  EXPECT_THAT(Metrics(),
              HasSubstr("krond_scheduler_audit_findings_total{problem=\"missing\"} 0\n"));
}

TEST_F(PeriodicAuditTest, IsOffForMoreJobsThanItsLimit) {
  options_.max_jobs = 0;
  auto audit = Make();
  audit->SetActive(true, kT0 + minutes(2));
  audit->RunOnce(kT0 + minutes(2));
  EXPECT_EQ(scans_, 0);
}

}  // namespace
}  // namespace krond::audit
