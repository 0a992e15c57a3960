#include "audit/audit.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/time_format.h"
#include "config/job_file.h"

namespace krond::audit {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

const SystemTime kT0 = *ParseRfc3339("2026-03-08T00:00:00Z");

std::vector<JobCalendar> Jobs(std::string_view yaml) {
  auto file = config::ParseJobFile(yaml, "jobs.yaml");
  EXPECT_TRUE(file.has_value());
  return file ? Calendars(file->jobs) : std::vector<JobCalendar>{};
}

// "tick" every 10 s, timeout 1m.
const std::string kTick =
    "clusters: [c]\njobs:\n  - name: tick\n    schedule: \"*/10 * * * * *\"\n    cluster: c\n"
    "    command: x\n    timeout: 1m\n";

messages::TaskMessage Task(const std::string& run_id, SystemTime at, std::string job = "tick") {
  messages::TaskMessage t;
  t.run_id = run_id;
  t.job = std::move(job);
  t.cluster = "c";
  t.scheduled_at = at;
  return t;
}

messages::ResultMessage Result(const std::string& run_id,
                               messages::Outcome outcome = messages::Outcome::kSucceeded,
                               std::string error = "") {
  messages::ResultMessage r;
  r.run_id = run_id;
  r.outcome = outcome;
  r.error = std::move(error);
  return r;
}

Options Window(SystemTime since, SystemTime until) {
  Options o;
  o.since = since;
  o.until = until;
  return o;
}

using Row = std::tuple<int, Problem, std::string>;  // seconds after kT0, problem, reason
std::vector<Row> Rows(const Report& report) {
  std::vector<Row> out;
  for (const Finding& f : report.findings) {
    out.emplace_back(static_cast<int>((f.scheduled_at - kT0) / seconds(1)), f.problem, f.reason);
  }
  return out;
}

TEST(AuditorTest, AnExactlyOnceWindowIsClean) {
  Auditor auditor(Jobs(kTick), Window(kT0, kT0 + seconds(50)));
  for (int i = 0; i <= 5; ++i) {
    const std::string id = "r" + std::to_string(i);
    auditor.AddTask(Task(id, kT0 + seconds(10 * i)));
    auditor.AddResult(Result(id));
  }
  Report report = auditor.Finish(kT0 + minutes(10));
  EXPECT_TRUE(report.findings.empty());
  EXPECT_TRUE(report.clean());
  ASSERT_EQ(report.jobs.size(), 1u);
  EXPECT_EQ(report.jobs[0].expected, 6);
  EXPECT_EQ(report.jobs[0].fired, 6);
}

TEST(AuditorTest, ListsEveryInstantNotFiredExactlyOnceWithItsReason) {
  Options options = Window(kT0, kT0 + seconds(90));
  options.result_grace = seconds(0);
  Auditor auditor(Jobs(kTick), options);
  auditor.AddTask(Task("a", kT0));
  auditor.AddResult(Result("a"));
  auditor.AddTask(Task("b1", kT0 + seconds(10)));  // +10 fired twice
  auditor.AddTask(Task("b2", kT0 + seconds(10)));
  auditor.AddResult(Result("b1"));
  auditor.AddResult(Result("b2"));
  // +20: nothing at all.
  auditor.AddSkip({"tick", messages::SkipReason::kCatchUp, kT0 + seconds(30), kT0 + seconds(30), 1,
                   kT0 + seconds(35), ""});
  auditor.AddSkip({"tick", messages::SkipReason::kRejected, kT0 + seconds(40), kT0 + seconds(40), 1,
                   kT0 + seconds(40), "too_large"});
  auditor.AddTask(Task("e", kT0 + seconds(50)));  // no worker could start it in time
  auditor.AddResult(Result("e", messages::Outcome::kSkipped,
                           "missed its starting_deadline of 5s (started 9s late)"));
  auditor.AddTask(Task("f", kT0 + seconds(60)));  // +60, +70: no result yet
  auditor.AddTask(Task("g", kT0 + seconds(70)));
  auditor.AddTask(Task("h", kT0 + seconds(80)));
  auditor.AddTask(Task("h", kT0 + seconds(80)));  // one record read twice: not a double
  auditor.AddResult(Result("h"));
  messages::TaskMessage retry = Task("i", kT0 + seconds(90));
  retry.attempt = 2;
  messages::TaskMessage replay = Task("j", kT0 + seconds(90));
  replay.replayed_from = "dead[0]@1";
  auditor.AddTask(retry);  // neither is a fire of +90
  auditor.AddTask(replay);

  // At +100 the runs of +60 and +70 may still run (timeout 1m).
  Report report = auditor.Finish(kT0 + seconds(100));
  EXPECT_THAT(
      Rows(report),
      ElementsAre(Row{10, Problem::kDoubled, ""}, Row{20, Problem::kMissing, ""},
                  Row{30, Problem::kSkipped, "catch_up"}, Row{40, Problem::kSkipped, "rejected"},
                  Row{50, Problem::kLate, "starting_deadline"},
                  Row{60, Problem::kNoResult, "still running"},
                  Row{70, Problem::kNoResult, "still running"}, Row{90, Problem::kMissing, ""}));
  EXPECT_THAT(report.findings[0].run_ids, ElementsAre("b1", "b2"));
  EXPECT_EQ(report.unexplained, 4);
  EXPECT_FALSE(report.clean());
  EXPECT_EQ(report.jobs[0].expected, 10);
  EXPECT_EQ(report.jobs[0].fired, 6);

  // Long after their timeout, results that never came are unexplained.
  Report later = auditor.Finish(kT0 + seconds(200));
  EXPECT_EQ(later.unexplained, 6);
  EXPECT_EQ(std::get<2>(Rows(later)[5]), "");
}

TEST(AuditorTest, JudgesAJobFromItsFirstRecordAndCountsOffCalendarFires) {
  Auditor auditor(Jobs(kTick), Window(kT0, kT0 + seconds(60)));
  // The job was added at +25: its first fire is +30; +0..+20 are not judged.
  for (int i = 3; i <= 6; ++i) {
    auditor.AddTask(Task("r" + std::to_string(i), kT0 + seconds(10 * i)));
    auditor.AddResult(Result("r" + std::to_string(i)));
  }
  auditor.AddTask(Task("odd", kT0 + seconds(45)));  // not an instant of */10
  Report report = auditor.Finish(kT0 + minutes(10));
  EXPECT_TRUE(report.clean()) << FormatText(report);
  EXPECT_EQ(report.jobs[0].expected, 4);
  EXPECT_EQ(report.off_calendar, 1);
}

TEST(AuditorTest, AJobWithNoRecordIsMissingOverTheWholeWindow) {
  Auditor auditor(Jobs(kTick), Window(kT0, kT0 + seconds(20)));
  auditor.AddTask(Task("x", kT0, "another-job"));  // not in the file: ignored
  Report report = auditor.Finish(kT0 + minutes(10));
  EXPECT_EQ(report.unexplained, 3);
  EXPECT_EQ(report.jobs[0].problems.at(Problem::kMissing), 3);
}

TEST(AuditorTest, EveryJobsAreNotJudged) {
  Auditor auditor(Jobs("clusters: [c]\njobs:\n  - name: e\n    schedule: \"@every 7s\"\n"
                       "    cluster: c\n    command: x\n"),
                  Window(kT0, kT0 + minutes(1)));
  Report report = auditor.Finish(kT0 + minutes(10));
  EXPECT_TRUE(report.clean());
  EXPECT_EQ(report.jobs[0].expected, 0);
}

TEST(AuditorTest, CapsTheFindingsKeptPerJobButCountsThemAll) {
  Options options = Window(kT0, kT0 + seconds(90));
  options.max_findings_per_job = 2;
  Auditor auditor(Jobs(kTick), options);
  Report report = auditor.Finish(kT0 + minutes(10));
  EXPECT_EQ(report.findings.size(), 2u);
  EXPECT_EQ(report.jobs[0].problems.at(Problem::kMissing), 10);
}

TEST(AuditorTest, FormatsTextAndJson) {
  Auditor auditor(Jobs(kTick), Window(kT0, kT0 + seconds(10)));
  auditor.AddTask(Task("a", kT0));
  auditor.AddResult(Result("a"));
  auditor.AddSkip({"tick", messages::SkipReason::kCatchUp, kT0 + seconds(10), kT0 + seconds(10), 1,
                   kT0 + seconds(11), ""});
  Report report = auditor.Finish(kT0 + minutes(10));
  EXPECT_EQ(FormatText(report),
            "tick 2026-03-08T00:00:10.000Z skipped (catch_up)\n"
            "audit 2026-03-08T00:00:00.000Z .. 2026-03-08T00:00:10.000Z: 1 job(s), 2 scheduled "
            "instant(s), 1 fired, 0 missing, 0 doubled, 1 skipped, 0 late, 0 no_result; clean\n");
  nlohmann::json json = nlohmann::json::parse(FormatJson(report));
  EXPECT_EQ(json["clean"], true);
  EXPECT_EQ(json["jobs"][0]["expected"], 2);
  EXPECT_EQ(json["findings"][0]["problem"], "skipped");
  EXPECT_EQ(json["findings"][0]["reason"], "catch_up");
  EXPECT_EQ(json["findings"][0]["explained"], true);
  EXPECT_EQ(json["findings"][0]["scheduled_at"], "2026-03-08T00:00:10.000Z");
}

}  // namespace
}  // namespace krond::audit
