#include "scheduler/ha_scheduler.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "fakes/fake_kafka.h"
#include "fakes/simulated_clock.h"
#include "metrics/registry.h"
#include "scheduler/fire_state.h"
#include "scheduler/test_jobs.h"

namespace krond::scheduler {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Kind = kafka::TxnErrorKind;

const SystemTime kT0 = test_support::Time("2026-03-08T00:00:00Z");

config::JobFile ThreeJobs(std::string_view deadline = "") {
  std::string yaml = "clusters: [alpha]\njobs:\n";
  for (const char* policy : {"none", "last", "all"}) {
    yaml += std::string("  - name: ") + policy + "\n    schedule: \"*/10 * * * * *\"\n" +
            "    cluster: alpha\n    command: run\n    catch_up: " + policy + "\n";
    if (!deadline.empty()) yaml += "    starting_deadline: " + std::string(deadline) + "\n";
  }
  return test_support::MustParse(yaml);
}

// ---- PlanCatchUp -----------------------------------------------------------------------

std::vector<std::pair<std::string, SystemTime>> Named(const CatchUpPlan& plan,
                                                      const config::JobFile& file) {
  std::vector<std::pair<std::string, SystemTime>> out;
  for (const auto& r : plan.runs) out.emplace_back(file.jobs[r.job].name, r.scheduled_at);
  return out;
}

TEST(PlanCatchUpTest, AppliesEachPolicyToTheGap) {
  auto file = ThreeJobs();
  LastFired last = {{"none", kT0}, {"last", kT0}, {"all", kT0}};
  // Down from kT0 to kT0+35s: fires at +10, +20, +30 were missed.
  CatchUpPlan plan = PlanCatchUp(file.jobs, last, kT0 + seconds(35));
  auto runs = Named(plan, file);
  std::vector<std::pair<std::string, SystemTime>> want = {
      {"all", kT0 + seconds(10)},
      {"all", kT0 + seconds(20)},
      {"last", kT0 + seconds(30)},  // same instant: job order (none, last, all)
      {"all", kT0 + seconds(30)},
  };
  EXPECT_EQ(runs, want);
  EXPECT_EQ(plan.skipped_by_policy, 3u + 2u);
  EXPECT_EQ(plan.dropped_by_deadline, 0u);
}

TEST(PlanCatchUpTest, FireAtNowCountsAsMissedAndJobsWithoutStateOweNothing) {
  auto file = ThreeJobs();
  CatchUpPlan plan = PlanCatchUp(file.jobs, {{"all", kT0}}, kT0 + seconds(10));
  ASSERT_EQ(plan.runs.size(), 1u);
  EXPECT_EQ(plan.runs[0].scheduled_at, kT0 + seconds(10));
  EXPECT_TRUE(PlanCatchUp(file.jobs, {}, kT0 + seconds(100)).runs.empty());
}

TEST(PlanCatchUpTest, StartingDeadlineDropsOldFiresBeforeThePolicy) {
  auto file = ThreeJobs("15s");
  LastFired last = {{"none", kT0}, {"last", kT0}, {"all", kT0}};
  CatchUpPlan plan = PlanCatchUp(file.jobs, last, kT0 + seconds(35));
  // Only +20 and +30 are within 15 s of +35.
  auto runs = Named(plan, file);
  std::vector<std::pair<std::string, SystemTime>> want = {
      {"all", kT0 + seconds(20)},
      {"last", kT0 + seconds(30)},
      {"all", kT0 + seconds(30)},
  };
  EXPECT_EQ(runs, want);
  EXPECT_EQ(plan.dropped_by_deadline, 3u);
}

TEST(FireStateTest, RoundTrips) {
  const std::string text = EncodeFireState({"backup", kT0 + milliseconds(5)});
  EXPECT_EQ(text, R"({"job":"backup","last_fired":"2026-03-08T00:00:00.005Z","v":1})");
  auto back = DecodeFireState(text);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->job, "backup");
  EXPECT_EQ(back->last_fired, kT0 + milliseconds(5));
  EXPECT_FALSE(DecodeFireState("{}").has_value());
  EXPECT_FALSE(DecodeFireState(R"({"v":2,"job":"a","last_fired":"x"})").has_value());
}

// ---- HaScheduler -----------------------------------------------------------------------

class HaSchedulerTest : public ::testing::Test {
 protected:
  HaSchedulerTest() { spdlog::set_level(spdlog::level::warn); }

  std::unique_ptr<HaScheduler> Make(config::JobFile file) {
    auto factory = [this]() -> Result<std::unique_ptr<kafka::TransactionalProducer>> {
      auto p = std::make_unique<testing::FakeTransactionalProducer>(log_);
      producers_.push_back(p.get());
      if (!next_commit_failures_.empty()) {
        p->FailNextCommits(std::move(next_commit_failures_));
        next_commit_failures_.clear();
      }
      return std::unique_ptr<kafka::TransactionalProducer>(std::move(p));
    };
    auto reader = [this]() -> Result<std::vector<kafka::ConsumedMessage>> {
      std::vector<kafka::ConsumedMessage> out;
      for (const auto& m : log_.Topic("t.state")) out.push_back({m.topic, 0, 0, m.key, m.value});
      return out;
    };
    return std::make_unique<HaScheduler>(clock_, factory, reader, metrics_,
                                         messages::TopicNames("t"), std::move(file));
  }
  void StepAt(HaScheduler& s, SystemTime t) {
    clock_.Set(t);
    s.Step(t);
  }
  // (job, scheduled_at) of every committed task, in commit order.
  std::vector<std::pair<std::string, SystemTime>> Fired() {
    std::vector<std::pair<std::string, SystemTime>> out;
    for (const auto& m : log_.Topic("t.tasks.alpha")) {
      auto task = messages::DecodeTask(m.value);
      EXPECT_TRUE(task.has_value());
      if (task) out.emplace_back(task->job, task->scheduled_at);
    }
    return out;
  }
  std::map<std::string, SystemTime> State() {
    std::map<std::string, SystemTime> out;
    for (const auto& m : log_.Topic("t.state")) {
      auto s = DecodeFireState(m.value);
      EXPECT_TRUE(s.has_value());
      if (s) out[s->job] = s->last_fired;
    }
    return out;
  }

  testing::SimulatedClock clock_{kT0};
  testing::FakeTxnLog log_;
  std::vector<testing::FakeTransactionalProducer*> producers_;
  std::deque<Kind> next_commit_failures_;
  metrics::Registry registry_;
  SchedulerMetrics metrics_{registry_};
};

TEST_F(HaSchedulerTest, StandbyFiresNothingAndLeaderFiresInTransactions) {
  auto s = Make(test_support::Jobs({{"a", "* * * * * *"}}));
  for (int i = 1; i <= 3; ++i) StepAt(*s, kT0 + seconds(i));
  EXPECT_TRUE(log_.committed.empty());
  EXPECT_FALSE(s->active());
  s->SetLeader(true);
  StepAt(*s, kT0 + milliseconds(3500));  // takeover: no state, nothing owed
  EXPECT_TRUE(s->active());
  for (int i = 4; i <= 6; ++i) StepAt(*s, kT0 + seconds(i));
  std::vector<std::pair<std::string, SystemTime>> want = {
      {"a", kT0 + seconds(4)}, {"a", kT0 + seconds(5)}, {"a", kT0 + seconds(6)}};
  EXPECT_EQ(Fired(), want);
  EXPECT_EQ(State()["a"], kT0 + seconds(6));
  EXPECT_EQ(producers_.back()->commits(), 3);
}

TEST_F(HaSchedulerTest, FailedCommitResendsTheSameRunIdsAndStateAdvancesOnlyOnCommit) {
  auto s = Make(test_support::Jobs({{"a", "* * * * * *"}}));
  next_commit_failures_ = {Kind::kAbortable, Kind::kRetriable};
  s->SetLeader(true);
  StepAt(*s, kT0);
  StepAt(*s, kT0 + seconds(1));  // commit fails: abortable -> aborted
  EXPECT_TRUE(log_.committed.empty());
  EXPECT_EQ(s->pending(), 1u);
  StepAt(*s, kT0 + seconds(2));  // abort, resend +1 with +2: commit times out (retriable)
  EXPECT_TRUE(log_.committed.empty());
  EXPECT_TRUE(State().empty()) << "state must not advance past an uncommitted fire";
  StepAt(*s, kT0 + milliseconds(2500));  // commit again: succeeds
  std::vector<std::pair<std::string, SystemTime>> want = {{"a", kT0 + seconds(1)},
                                                          {"a", kT0 + seconds(2)}};
  EXPECT_EQ(Fired(), want);
  EXPECT_EQ(State()["a"], kT0 + seconds(2));
  EXPECT_EQ(producers_.back()->aborts(), 1);
  EXPECT_EQ(s->pending(), 0u);
}

TEST_F(HaSchedulerTest, AbortedBatchKeepsItsRunIds) {
  auto s = Make(test_support::Jobs({{"a", "* * * * * *"}}));
  next_commit_failures_ = {Kind::kAbortable};
  s->SetLeader(true);
  StepAt(*s, kT0);
  // Capture the run id produced in the failed transaction through the committed one.
  StepAt(*s, kT0 + seconds(1));
  StepAt(*s, kT0 + milliseconds(1100));
  auto tasks = log_.Topic("t.tasks.alpha");
  ASSERT_EQ(tasks.size(), 1u);
  std::set<std::string> ids;
  for (const auto& m : tasks) ids.insert(m.key);
  EXPECT_EQ(ids.size(), 1u);
}

TEST_F(HaSchedulerTest, FailoverWithCatchUpAllFiresEveryInstantExactlyOnce) {
  auto a = Make(test_support::Jobs({{"j", "* * * * * *"}}));
  a->SetLeader(true);
  StepAt(*a, kT0);
  for (int i = 1; i <= 5; ++i) StepAt(*a, kT0 + seconds(i));
  // `a` hangs (a zombie) without learning it lost; `b` is elected 4 s later.
  auto file = test_support::Jobs({{"j", "* * * * * *"}});
  for (auto& job : file.jobs) job.catch_up = config::CatchUpPolicy::kAll;
  auto b = Make(std::move(file));
  b->SetLeader(true);
  StepAt(*b, kT0 + milliseconds(9500));  // fences a; owes +6..+9
  StepAt(*a, kT0 + seconds(10));         // the zombie tries to fire: fenced, fires nothing
  EXPECT_FALSE(a->active());
  StepAt(*b, kT0 + seconds(10));
  std::vector<std::pair<std::string, SystemTime>> want;
  for (int i = 1; i <= 10; ++i) want.emplace_back("j", kT0 + seconds(i));
  EXPECT_EQ(Fired(), want);
  EXPECT_NE(registry_.Render().find("krond_scheduler_fenced_total 1"), std::string::npos);
}

TEST_F(HaSchedulerTest, LosingLeadershipDropsTheUncommittedBatch) {
  auto s = Make(test_support::Jobs({{"a", "* * * * * *"}}));
  next_commit_failures_ = {Kind::kRetriable};
  s->SetLeader(true);
  StepAt(*s, kT0);
  StepAt(*s, kT0 + seconds(1));  // commit pending
  s->SetLeader(false);
  EXPECT_FALSE(s->active());
  EXPECT_EQ(s->pending(), 0u);
  StepAt(*s, kT0 + seconds(2));
  EXPECT_TRUE(log_.committed.empty());
}

// Every run of a job goes to one partition (its name is the partition key), so one worker
// at a time owns a job (docs/messages.md, "Partitions"); the key stays the run id.
TEST_F(HaSchedulerTest, TasksArePartitionedByJobName) {
  auto s = Make(test_support::Jobs({{"a", "* * * * * *"}, {"b", "* * * * * *"}}));
  s->SetLeader(true);
  for (int i = 0; i <= 2; ++i) StepAt(*s, kT0 + seconds(i));
  const auto tasks = log_.Topic("t.tasks.alpha");
  ASSERT_EQ(tasks.size(), 4u);
  for (const auto& m : tasks) {
    auto task = messages::DecodeTask(m.value);
    ASSERT_TRUE(task.has_value());
    EXPECT_EQ(m.partition_key, task->job);
    EXPECT_EQ(m.key, task->run_id);
  }
  for (const auto& m : log_.Topic("t.state")) EXPECT_EQ(m.partition_key, "") << "keyed by job";
}

}  // namespace
}  // namespace krond::scheduler
