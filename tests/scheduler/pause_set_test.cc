#include "scheduler/pause_set.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include "fakes/fake_kafka.h"
#include "messages/catalog.h"
#include "metrics/registry.h"
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

// Paused fires in the service loop: SchedulerServiceTest.PausedFiresAreSkipped...

}  // namespace
}  // namespace krond::scheduler
