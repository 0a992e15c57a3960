#include "console/publisher.h"

#include <gtest/gtest.h>

#include "fakes/fake_kafka.h"
#include "fakes/simulated_clock.h"

namespace krond::console {
namespace {

TEST(KafkaPublisherTest, RoutesTasksByJobAndWaitsForEveryAcknowledgement) {
  krond::testing::FakeProducer producer;
  krond::testing::SimulatedClock clock;
  KafkaPublisher publisher(producer, clock, std::chrono::seconds(5));
  const messages::TopicNames topics("t");
  messages::TaskMessage task;
  task.run_id = "r1";
  task.job = "backup";
  task.cluster = "a";
  task.command = "true";
  ASSERT_TRUE(publisher.PublishAndWait(
      {TaskRecord(topics, task, messages::Encode(task)), {topics.Control(), "backup", "{}"}}));
  auto sent = producer.Records();
  ASSERT_EQ(sent.size(), 2u);
  EXPECT_EQ(sent[0].topic, "t.tasks.a");
  EXPECT_EQ(sent[0].key, "r1");
  EXPECT_EQ(sent[0].partition_key, "backup") << "every task of a job on one partition";
  EXPECT_EQ(sent[1].partition_key, "") << "other records keep the key's partition";
  for (const auto& r : sent) EXPECT_EQ(r.state, krond::testing::FakeProducer::State::kAcked);
}

TEST(KafkaPublisherTest, AnUnacknowledgedRecordIsAnErrorWithinTheTimeout) {
  krond::testing::FakeProducer producer;
  krond::testing::SimulatedClock clock;
  producer.AdvanceClockOnIdlePoll(&clock);
  producer.HoldDeliveries(true);
  KafkaPublisher publisher(producer, clock, std::chrono::seconds(5));
  const MonoTime start = clock.MonoNow();
  auto status = publisher.PublishAndWait({{"t.control", "backup", "{}"}});
  ASSERT_FALSE(status);
  EXPECT_NE(status.error().message.find("Kafka unreachable"), std::string::npos);
  EXPECT_LE(clock.MonoNow() - start, std::chrono::seconds(7));
}

}  // namespace
}  // namespace krond::console
