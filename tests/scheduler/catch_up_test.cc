#include "scheduler/catch_up.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "scheduler/test_jobs.h"

namespace krond::scheduler {
namespace {

using messages::SkipReason;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::SizeIs;

const SystemTime kT0 = test_support::Time("2026-03-08T00:00:00Z");

// Jobs none, last and all, each every 10 s.
config::JobFile ThreeJobs(std::string_view deadline = "") {
  std::string yaml = "clusters: [alpha]\njobs:\n";
  for (const char* policy : {"none", "last", "all"}) {
    yaml += std::string("  - name: ") + policy + "\n    schedule: \"*/10 * * * * *\"\n" +
            "    cluster: alpha\n    command: run\n    catch_up: " + policy + "\n";
    if (!deadline.empty()) yaml += "    starting_deadline: " + std::string(deadline) + "\n";
  }
  return test_support::MustParse(yaml);
}

using Named = std::vector<std::pair<std::string, SystemTime>>;

Named Runs(const CatchUpPlan& plan, const config::JobFile& file) {
  Named out;
  for (const auto& r : plan.runs) out.emplace_back(file.jobs[r.job].name, r.scheduled_at);
  return out;
}

struct Skip {
  std::string job;
  SkipReason reason;
  SystemTime first, last;
  int64_t count;
  bool operator==(const Skip&) const = default;
};
std::ostream& operator<<(std::ostream& os, const Skip& s) {
  return os << s.job << " " << messages::SkipReasonName(s.reason) << " x" << s.count;
}

std::vector<Skip> Skips(const CatchUpPlan& plan, const config::JobFile& file) {
  std::vector<Skip> out;
  for (const auto& s : plan.skips) {
    out.push_back({file.jobs[s.job].name, s.reason, s.first, s.last, s.count});
  }
  return out;
}

HandledThrough All(const config::JobFile& file, SystemTime t) {
  return HandledThrough(file.jobs.size(), t);
}

TEST(PlanCatchUpTest, AppliesEachPolicyToTheGapAndRecordsWhatItSkips) {
  auto file = ThreeJobs();
  // Down from kT0 to kT0+35s: fires at +10, +20, +30 were missed.
  CatchUpPlan plan = PlanCatchUp(file.jobs, All(file, kT0), kT0 + seconds(35));
  Named want = {
      {"all", kT0 + seconds(10)},
      {"all", kT0 + seconds(20)},
      {"last", kT0 + seconds(30)},  // same instant: job order (none, last, all)
      {"all", kT0 + seconds(30)},
  };
  EXPECT_EQ(Runs(plan, file), want);
  std::vector<Skip> skips = {
      {"none", SkipReason::kCatchUp, kT0 + seconds(10), kT0 + seconds(30), 3},
      {"last", SkipReason::kCatchUp, kT0 + seconds(10), kT0 + seconds(20), 2},
  };
  EXPECT_EQ(Skips(plan, file), skips);
  EXPECT_EQ(plan.skipped_by_policy, 3u + 2u);
  EXPECT_EQ(plan.dropped_by_deadline, 0u);
  // Every job's fate is decided through its last missed instant, fired or not.
  std::vector<std::pair<uint32_t, SystemTime>> decided = {
      {0, kT0 + seconds(30)}, {1, kT0 + seconds(30)}, {2, kT0 + seconds(30)}};
  EXPECT_EQ(plan.decided, decided);
}

TEST(PlanCatchUpTest, FireAtNowCountsAsMissedAndJobsWithoutStateOweNothing) {
  auto file = ThreeJobs();
  HandledThrough handled(3);
  handled[2] = kT0;  // only `all` has state
  CatchUpPlan plan = PlanCatchUp(file.jobs, handled, kT0 + seconds(10));
  ASSERT_EQ(plan.runs.size(), 1u);
  EXPECT_EQ(plan.runs[0].scheduled_at, kT0 + seconds(10));
  EXPECT_TRUE(PlanCatchUp(file.jobs, HandledThrough(3), kT0 + seconds(100)).runs.empty());
}

TEST(PlanCatchUpTest, StartingDeadlineDropsOldFiresBeforeThePolicy) {
  auto file = ThreeJobs("15s");
  CatchUpPlan plan = PlanCatchUp(file.jobs, All(file, kT0), kT0 + seconds(35));
  // Only +20 and +30 are within 15 s of +35.
  Named want = {
      {"all", kT0 + seconds(20)}, {"last", kT0 + seconds(30)}, {"all", kT0 + seconds(30)}};
  EXPECT_EQ(Runs(plan, file), want);
  EXPECT_EQ(plan.dropped_by_deadline, 3u);
  std::vector<Skip> skips = {
      {"none", SkipReason::kStartingDeadline, kT0 + seconds(10), kT0 + seconds(10), 1},
      {"none", SkipReason::kCatchUp, kT0 + seconds(20), kT0 + seconds(30), 2},
      {"last", SkipReason::kStartingDeadline, kT0 + seconds(10), kT0 + seconds(10), 1},
      {"last", SkipReason::kCatchUp, kT0 + seconds(20), kT0 + seconds(20), 1},
      {"all", SkipReason::kStartingDeadline, kT0 + seconds(10), kT0 + seconds(10), 1},
  };
  EXPECT_EQ(Skips(plan, file), skips);
}

TEST(PlanCatchUpTest, AHandOverFiresWhatFellDueSinceTheResignWhateverThePolicy) {
  auto file = ThreeJobs();
  // The previous scheduler fired through +10 and resigned; the successor took over at +21:
  // +20 fell due during the hand-over, so even `none` fires it.
  CatchUpOptions options;
  options.handover_since = kT0 + seconds(10);
  CatchUpPlan plan =
      PlanCatchUp(file.jobs, All(file, kT0 + seconds(10)), kT0 + seconds(21), options);
  Named want = {
      {"none", kT0 + seconds(20)}, {"last", kT0 + seconds(20)}, {"all", kT0 + seconds(20)}};
  EXPECT_EQ(Runs(plan, file), want);
  EXPECT_TRUE(plan.skips.empty());
}

TEST(PlanCatchUpTest, StopsEnumeratingAtTheLimitAndRecordsTheRest) {
  auto file = ThreeJobs();
  CatchUpOptions options;
  options.max_per_job = 2;
  CatchUpPlan plan = PlanCatchUp(file.jobs, All(file, kT0), kT0 + seconds(45), options);
  Named want = {
      {"all", kT0 + seconds(10)}, {"last", kT0 + seconds(20)}, {"all", kT0 + seconds(20)}};
  EXPECT_EQ(Runs(plan, file), want);
  std::vector<Skip> skips = {
      {"none", SkipReason::kCatchUp, kT0 + seconds(10), kT0 + seconds(20), 2},
      {"none", SkipReason::kCatchUpLimit, kT0 + seconds(30), kT0 + seconds(45), -1},
      {"last", SkipReason::kCatchUp, kT0 + seconds(10), kT0 + seconds(10), 1},
      {"last", SkipReason::kCatchUpLimit, kT0 + seconds(30), kT0 + seconds(45), -1},
      {"all", SkipReason::kCatchUpLimit, kT0 + seconds(30), kT0 + seconds(45), -1},
  };
  EXPECT_EQ(Skips(plan, file), skips);
  EXPECT_EQ(plan.decided.back(), std::make_pair(uint32_t{2}, kT0 + seconds(45)));
}

TEST(StateRestorerTest, FoldsRecordsOntoJobsAndKeepsTheGreatestFence) {
  auto file = ThreeJobs();
  StateRestorer restorer(file.jobs, kT0 + seconds(100));
  restorer.Add(messages::Encode(messages::FireState{"last", kT0 + seconds(20), 7}));
  restorer.Add(messages::Encode(messages::FireState{"last", kT0 + seconds(10), 5}));  // older
  restorer.Add(messages::Encode(messages::FireState{"removed", kT0 + seconds(90), 12}));
  restorer.Add(messages::Encode(messages::FireState{"all", kT0, 3}));
  restorer.Add("garbage");
  RestoredState state = restorer.Take();
  ASSERT_EQ(state.handled.size(), 3u);
  EXPECT_FALSE(state.handled[0].has_value()) << "none has no record";
  EXPECT_EQ(state.handled[1], kT0 + seconds(20));
  EXPECT_EQ(state.handled[2], kT0);
  EXPECT_EQ(state.fence, 12) << "a removed job's fence still counts: fences never go back";
  EXPECT_EQ(state.records, 5u);
  EXPECT_EQ(state.undecodable, 1u);
  EXPECT_TRUE(state.removed.empty()) << "removed's record is older than `since`";
}

TEST(StateRestorerTest, KeepsTheLatestRecentRecordOfEachRemovedJobInOrderOfName) {
  auto file = ThreeJobs();
  StateRestorer restorer(file.jobs, kT0 + seconds(50));
  restorer.Add(messages::Encode(messages::FireState{"y", kT0 + seconds(60), 1}));
  restorer.Add(messages::Encode(messages::FireState{"x", kT0 + seconds(70), 2}));
  restorer.Add(messages::Encode(messages::FireState{"y", kT0 + seconds(80), 3}));
  restorer.Add(messages::Encode(messages::FireState{"y", kT0 + seconds(55), 4}));  // older
  restorer.Add(messages::Encode(messages::FireState{"old", kT0 + seconds(50), 5}));
  restorer.Add(messages::Encode(messages::FireState{"all", kT0 + seconds(90), 6}));
  RestoredState state = restorer.Take();
  ASSERT_THAT(state.removed, SizeIs(2)) << "old is not after `since`; all is a job";
  EXPECT_EQ(state.removed[0].job, "x");
  EXPECT_EQ(state.removed[0].at, kT0 + seconds(70));
  EXPECT_EQ(state.removed[1].job, "y");
  EXPECT_EQ(state.removed[1].at, kT0 + seconds(80));
  EXPECT_EQ(state.handled[2], kT0 + seconds(90));
}

}  // namespace
}  // namespace krond::scheduler
