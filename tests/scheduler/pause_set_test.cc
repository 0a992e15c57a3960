#include "scheduler/pause_set.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include "fakes/fake_kafka.h"
#include "fakes/simulated_clock.h"
#include "messages/catalog.h"
#include "metrics/registry.h"
#include "scheduler/ha_scheduler.h"
#include "scheduler/scheduler_service.h"
#include "scheduler/test_jobs.h"

namespace krond::scheduler {
namespace {

using std::chrono::seconds;

const SystemTime kT0 = test_support::Time("2026-03-08T00:00:00Z");

kafka::ConsumedMessage Control(int64_t offset, const std::string& job, bool paused) {
  return {"t.control", 0, offset, job,
          messages::Encode(messages::ControlRecord{job, paused, "alice", kT0, "maintenance"})};
}

TEST(PauseSetTest, TheLatestRecordOfAJobWins) {
  PauseSet pauses;
  ASSERT_TRUE(pauses.Apply(Control(0, "a", true)));
  ASSERT_TRUE(pauses.Apply(Control(1, "b", true)));
  EXPECT_TRUE(pauses.Paused("a"));
  EXPECT_TRUE(pauses.Paused("b"));
  ASSERT_TRUE(pauses.Apply(Control(2, "a", false)));
  EXPECT_FALSE(pauses.Paused("a"));
  EXPECT_EQ(pauses.paused_count(), 1u);
  // A tombstone (compaction's deletion) resumes.
  ASSERT_TRUE(pauses.Apply({"t.control", 0, 3, "b", ""}));
  EXPECT_FALSE(pauses.Paused("b"));
}

TEST(PauseSetTest, ReadingTheTopicAgainDoesNotGoBackInTime) {
  PauseSet pauses;
  ASSERT_TRUE(pauses.Apply(Control(0, "a", true)));
  ASSERT_TRUE(pauses.Apply(Control(1, "a", false)));
  // A consumer that starts from the beginning sees offset 0 again: ignored.
  ASSERT_TRUE(pauses.Apply(Control(0, "a", true)));
  EXPECT_FALSE(pauses.Paused("a"));
}

TEST(PauseSetTest, AnUndecodableRecordChangesNothing) {
  PauseSet pauses;
  ASSERT_TRUE(pauses.Apply(Control(0, "a", true)));
  auto bad = pauses.Apply({"t.control", 0, 1, "a", "{not json"});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("\"a\""), std::string::npos);
  EXPECT_TRUE(pauses.Paused("a"));
}

TEST(PauseSetTest, TakePausedKeepsOrder) {
  auto file = test_support::Jobs({{"a", "* * * * * *"}, {"b", "* * * * * *"}});
  PauseSet pauses;
  ASSERT_TRUE(pauses.Apply(Control(0, "b", true)));
  std::vector<DueRun> runs = {{0, kT0}, {1, kT0}, {0, kT0 + seconds(1)}, {1, kT0 + seconds(1)}};
  std::vector<DueRun> skipped = pauses.TakePaused(runs, file.jobs);
  EXPECT_EQ(runs, (std::vector<DueRun>{{0, kT0}, {0, kT0 + seconds(1)}}));
  EXPECT_EQ(skipped, (std::vector<DueRun>{{1, kT0}, {1, kT0 + seconds(1)}}));
}

TEST(ControlFeedTest, AppliesWhatArrives) {
  spdlog::set_level(spdlog::level::warn);
  metrics::Registry registry;
  SchedulerMetrics metrics(registry);
  testing::FakeConsumer consumer;
  PauseSet pauses;
  ControlFeed feed(consumer, pauses, metrics, "t.control");
  ASSERT_TRUE(feed.Start());
  consumer.Assign({{"t.control", 0}});
  EXPECT_EQ(feed.Poll(), 0u);
  consumer.Append("t.control", 0, "a", Control(0, "a", true).value);
  consumer.Append("t.control", 0, "x", "garbage");
  consumer.Append("t.control", 0, "b", Control(2, "b", true).value);
  EXPECT_EQ(feed.Poll(), 2u);
  EXPECT_TRUE(pauses.Paused("a"));
  EXPECT_TRUE(pauses.Paused("b"));
}

class PausedFiresTest : public ::testing::Test {
 protected:
  PausedFiresTest() { spdlog::set_level(spdlog::level::warn); }
  double Skipped() { return metrics_.fires_skipped.WithLabels({"paused"}).Value(); }
  testing::SimulatedClock clock_{kT0};
  metrics::Registry registry_;
  SchedulerMetrics metrics_{registry_};
  PauseSet pauses_;
};

TEST_F(PausedFiresTest, ThePlainSchedulerSkipsAndCountsThem) {
  testing::FakeProducer producer;
  SchedulerService service(clock_, producer, metrics_, messages::TopicNames("t"),
                           test_support::Jobs({{"a", "* * * * * *"}, {"b", "* * * * * *"}}));
  service.set_pauses(&pauses_);
  ASSERT_TRUE(pauses_.Apply(Control(0, "b", true)));
  clock_.Set(kT0 + seconds(2));
  service.Step(kT0 + seconds(2));
  producer.Poll(std::chrono::milliseconds(0));
  std::vector<std::string> fired;
  for (const auto& r : producer.Acked("t.tasks.alpha"))
    fired.push_back(messages::DecodeTask(r.value)->job);
  EXPECT_EQ(fired, (std::vector<std::string>{"a", "a"}));
  EXPECT_EQ(Skipped(), 2.0);
  // Resumed: b fires from the next instant on; what it missed stays skipped.
  ASSERT_TRUE(pauses_.Apply(Control(1, "b", false)));
  clock_.Set(kT0 + seconds(3));
  service.Step(kT0 + seconds(3));
  producer.Poll(std::chrono::milliseconds(0));
  EXPECT_EQ(producer.AckedCount("t.tasks.alpha"), 4u);
  EXPECT_EQ(Skipped(), 2.0);
}

TEST_F(PausedFiresTest, TheHaSchedulerRecordsSkippedFiresAsFiredInItsState) {
  testing::FakeTxnLog log;
  auto factory = [&log]() -> Result<std::unique_ptr<kafka::TransactionalProducer>> {
    return std::unique_ptr<kafka::TransactionalProducer>(
        std::make_unique<testing::FakeTransactionalProducer>(log));
  };
  auto reader = [&log]() -> Result<std::vector<kafka::ConsumedMessage>> {
    std::vector<kafka::ConsumedMessage> out;
    for (const auto& m : log.Topic("t.state")) out.push_back({m.topic, 0, 0, m.key, m.value});
    return out;
  };
  auto file = test_support::Jobs({{"a", "* * * * * *"}, {"b", "* * * * * *"}});
  for (auto& job : file.jobs) job.catch_up = config::CatchUpPolicy::kAll;
  HaScheduler s(clock_, factory, reader, metrics_, messages::TopicNames("t"), file);
  s.set_pauses(&pauses_);
  ASSERT_TRUE(pauses_.Apply(Control(0, "b", true)));
  s.SetLeader(true);
  for (int i = 0; i <= 3; ++i) {
    clock_.Set(kT0 + seconds(i));
    s.Step(kT0 + seconds(i));
  }
  std::map<std::string, SystemTime> state;
  for (const auto& m : log.Topic("t.state")) state[m.key] = DecodeFireState(m.value)->last_fired;
  EXPECT_EQ(state["a"], kT0 + seconds(3));
  EXPECT_EQ(state["b"], kT0 + seconds(3)) << "a skipped fire advances the state";
  size_t b_tasks = 0;
  for (const auto& m : log.Topic("t.tasks.alpha"))
    b_tasks += messages::DecodeTask(m.value)->job == "b";
  EXPECT_EQ(b_tasks, 0u);
  EXPECT_EQ(Skipped(), 3.0);
  // A failover after the resume owes b nothing for the paused time (catch_up: all).
  ASSERT_TRUE(pauses_.Apply(Control(1, "b", false)));
  HaScheduler next(clock_, factory, reader, metrics_, messages::TopicNames("t"), file);
  next.set_pauses(&pauses_);
  next.SetLeader(true);
  clock_.Set(kT0 + seconds(3) + std::chrono::milliseconds(500));
  next.Step(clock_.Now());
  for (const auto& m : log.Topic("t.tasks.alpha"))
    b_tasks += messages::DecodeTask(m.value)->job == "b";
  EXPECT_EQ(b_tasks, 0u);
}

}  // namespace
}  // namespace krond::scheduler
