// The fakes model Kafka closely enough for the worker and scheduler tests to mean something:
// these tests pin down the behaviour those tests rely on.
#include "fakes/fake_kafka.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace krond::testing {
namespace {

using std::chrono::milliseconds;
using ::testing::ElementsAre;

class Recorder : public kafka::RebalanceListener {
 public:
  void OnAssigned(const std::vector<kafka::TopicPartition>& p) override {
    events.push_back("assigned " + std::to_string(p.size()));
  }
  void OnRevoked(const std::vector<kafka::TopicPartition>& p) override {
    events.push_back("revoked " + std::to_string(p.size()));
  }
  void OnLost(const std::vector<kafka::TopicPartition>& p) override {
    events.push_back("lost " + std::to_string(p.size()));
  }
  std::vector<std::string> events;
};

// Keys of the messages the next `n` polls return ("-" for an empty poll).
std::vector<std::string> PollKeys(FakeConsumer& c, int n) {
  std::vector<std::string> keys;
  for (int i = 0; i < n; ++i) {
    auto m = c.Poll(milliseconds(0));
    keys.push_back(!m ? "error" : m->has_value() ? (*m)->key : "-");
  }
  return keys;
}

TEST(FakeConsumerTest, ReturnsAssignedPartitionsOnlyAndRewindsOnSeek) {
  FakeConsumer c;
  for (const char* k : {"a", "b", "c"}) c.Append("t", 0, k, "");
  c.Append("t", 1, "x", "");
  EXPECT_THAT(PollKeys(c, 1), ElementsAre("-")) << "nothing assigned";
  c.Assign({{"t", 0, -1}});
  EXPECT_THAT(PollKeys(c, 2), ElementsAre("a", "b"));
  ASSERT_TRUE(c.Seek({"t", 0, 1}).has_value());
  EXPECT_THAT(PollKeys(c, 3), ElementsAre("b", "c", "-"));
}

TEST(FakeConsumerTest, PausedPartitionsAreNotFetched) {
  FakeConsumer c;
  c.Append("t", 0, "a", "");
  c.Append("t", 0, "b", "");
  c.Append("t", 1, "x", "");
  c.Assign({{"t", 0, -1}, {"t", 1, -1}});
  ASSERT_TRUE(c.Pause({{"t", 0, -1}}).has_value());
  EXPECT_THAT(PollKeys(c, 2), ElementsAre("x", "-"));
  ASSERT_TRUE(c.Resume({{"t", 0, -1}}).has_value());
  EXPECT_THAT(PollKeys(c, 3), ElementsAre("a", "b", "-"));
}

TEST(FakeConsumerTest, PrefetchedMessagesSurviveAPauseButNotASeek) {
  FakeConsumer c;
  c.SetPrefetch(10);
  for (const char* k : {"a", "b", "c"}) c.Append("t", 0, k, "");
  c.Assign({{"t", 0, -1}});
  EXPECT_THAT(PollKeys(c, 1), ElementsAre("a"));
  ASSERT_TRUE(c.Pause({{"t", 0, -1}}).has_value());
  EXPECT_THAT(PollKeys(c, 1), ElementsAre("b")) << "already fetched";
  ASSERT_TRUE(c.Seek({"t", 0, 2}).has_value());
  EXPECT_THAT(PollKeys(c, 1), ElementsAre("-")) << "seek dropped c; partition paused";
  ASSERT_TRUE(c.Resume({{"t", 0, -1}}).has_value());
  EXPECT_THAT(PollKeys(c, 2), ElementsAre("c", "-"));
}

TEST(FakeConsumerTest, ReassignmentStartsAtTheCommittedOffsetAndCloseRevokes) {
  FakeConsumer c;
  Recorder listener;
  c.SetListener(&listener);
  for (const char* k : {"a", "b", "c"}) c.Append("t", 0, k, "");
  c.Assign({{"t", 0, -1}});
  EXPECT_THAT(PollKeys(c, 3), ElementsAre("a", "b", "c"));
  ASSERT_TRUE(c.Commit({{"t", 0, 1}}).has_value());
  c.Revoke({{"t", 0, -1}});
  c.Assign({{"t", 0, -1}});
  EXPECT_THAT(PollKeys(c, 2), ElementsAre("b", "c"));
  c.Close();
  c.Close();
  EXPECT_THAT(listener.events, ElementsAre("assigned 1", "revoked 1", "assigned 1", "revoked 1"));
}

TEST(FakeConsumerTest, CommitMetadataIsReadBackWithTheOffset) {
  FakeConsumer c;
  Recorder listener;
  c.SetListener(&listener);
  c.Assign({{"t", 0, -1}, {"t", 1, -1}});
  ASSERT_TRUE(c.Commit({{"t", 0, 4, "started 4"}}).has_value());
  auto committed = c.Committed({{"t", 0, -1}, {"t", 1, -1}}, milliseconds(100));
  ASSERT_TRUE(committed.has_value());
  EXPECT_THAT(*committed, ElementsAre(kafka::TopicPartition{"t", 0, 4, "started 4"},
                                      kafka::TopicPartition{"t", 1, -1, ""}));
  c.FailNextCommittedReads(1);
  EXPECT_FALSE(c.Committed({{"t", 0, -1}}, milliseconds(100)).has_value());
  EXPECT_EQ(c.committed_reads(), 2);
  // Lost partitions go to OnLost and are unassigned like revoked ones.
  c.Lose({{"t", 1, -1}});
  EXPECT_THAT(c.Assignment(), ElementsAre(kafka::TopicPartition{"t", 0, -1}));
  EXPECT_THAT(listener.events, ElementsAre("assigned 2", "lost 1"));
}

TEST(FakeConsumerTest, ScriptedErrorsComeFirst) {
  FakeConsumer c;
  c.Append("t", 0, "a", "");
  c.Assign({{"t", 0, -1}});
  c.ScriptError("down");
  EXPECT_THAT(PollKeys(c, 2), ElementsAre("error", "a"));
}

TEST(FakeProducerTest, DeliversOnPollAndHonoursFailureKnobs) {
  FakeProducer p;
  std::vector<std::string> reports;
  auto cb = [&](const kafka::DeliveryReport& r) {
    reports.push_back(r.status ? r.topic + "@" + std::to_string(r.offset) : "failed");
  };
  p.FailNextProduces(1);
  EXPECT_FALSE(p.Produce("t", "k", "v", cb).has_value());
  ASSERT_TRUE(p.Produce("t", "k", "v", cb).has_value());
  p.FailNextDeliveries(1);
  ASSERT_TRUE(p.Produce("t", "k", "v", cb).has_value());
  EXPECT_EQ(p.InFlight(), 2);
  EXPECT_TRUE(reports.empty());
  p.Poll(milliseconds(0));
  // Failures apply in produce order: the first queued delivery fails.
  EXPECT_THAT(reports, ElementsAre("failed", "t@0"));
  EXPECT_EQ(p.InFlight(), 0);
  EXPECT_EQ(p.AckedCount("t"), 1u);
}

TEST(FakeProducerTest, RoutesByPartitionKeyOnTopicsWithPartitions) {
  FakeProducer p;
  p.SetPartitions("t", 12);
  std::vector<int32_t> partitions;
  auto cb = [&](const kafka::DeliveryReport& r) { partitions.push_back(r.partition); };
  ASSERT_TRUE(p.ProduceRouted("t", "nightly", "run-1", "v", cb).has_value());
  ASSERT_TRUE(p.ProduceRouted("t", "nightly", "run-2", "v", cb).has_value());
  ASSERT_TRUE(p.Produce("t", "run-3", "v", cb).has_value());
  ASSERT_TRUE(p.ProduceRouted("other", "nightly", "run-4", "v", cb).has_value());
  p.Poll(milliseconds(0));
  const int32_t nightly = kafka::PartitionForKey("nightly", 12);
  EXPECT_THAT(partitions, ElementsAre(nightly, nightly, 0, 0));
  EXPECT_EQ(p.Records()[0].partition_key, "nightly");
  EXPECT_EQ(p.Records()[2].partition_key, "");
}

TEST(FakeProducerTest, HeldDeliveriesMakeFlushFailAndLetTimePass) {
  SimulatedClock clock;
  FakeProducer p;
  p.AdvanceClockOnIdlePoll(&clock);
  p.HoldDeliveries(true);
  ASSERT_TRUE(p.Produce("t", "k", "v", nullptr).has_value());
  EXPECT_FALSE(p.Flush(milliseconds(300)).has_value());
  EXPECT_EQ(clock.Now(), SystemTime(milliseconds(300)));
  p.Poll(milliseconds(20));
  EXPECT_EQ(clock.Now(), SystemTime(milliseconds(320)));
  p.HoldDeliveries(false);
  EXPECT_TRUE(p.Flush(milliseconds(300)).has_value());
  EXPECT_EQ(clock.Now(), SystemTime(milliseconds(320)));
}

TEST(FakePartitionFollowerTest, StartsTailMessagesBeforeTheEndAndSeesOnlyCommits) {
  SimulatedClock clock;
  FakeTxnLog log;
  log.committed = {{"lease", "k", "1", ""}, {"other", "k", "x", ""}, {"lease", "k", "2", ""}};
  FakePartitionFollower follower(log, "lease", 1, &clock);
  auto first = follower.Poll(milliseconds(50));
  ASSERT_TRUE(first.has_value() && first->has_value());
  EXPECT_EQ((*first)->value, "2");
  auto none = follower.Poll(milliseconds(50));
  ASSERT_TRUE(none.has_value());
  EXPECT_FALSE(none->has_value());
  EXPECT_EQ(clock.Now(), SystemTime(milliseconds(50)));

  FakeTransactionalProducer producer(log);
  ASSERT_TRUE(producer.InitTransactions(milliseconds(10)).has_value());
  ASSERT_TRUE(producer.BeginTransaction().has_value());
  ASSERT_TRUE(producer.Produce("lease", "k", "3", nullptr).has_value());
  EXPECT_FALSE(follower.Poll(milliseconds(0))->has_value()) << "uncommitted is invisible";
  ASSERT_TRUE(producer.CommitTransaction(milliseconds(10)).has_value());
  EXPECT_EQ((*follower.Poll(milliseconds(0)))->value, "3");

  follower.FailNextPolls(1);
  EXPECT_FALSE(follower.Poll(milliseconds(0)).has_value());
}

}  // namespace
}  // namespace krond::testing
