#include "kafka/reliable_publisher.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "fakes/fake_kafka.h"
#include "fakes/simulated_clock.h"

namespace krond::kafka {
namespace {

using krond::testing::FakeProducer;
using krond::testing::SimulatedClock;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

constexpr milliseconds kDelay{200};

class ReliablePublisherTest : public ::testing::Test {
 protected:
  // Publishes a message whose acknowledgements are counted in acks_[key].
  void Publish(const std::string& key, const std::string& topic = "t") {
    publisher_.Publish(topic, key, "value-" + key, [this, key](const DeliveryReport& report) {
      EXPECT_TRUE(report.status.has_value());
      acks_.push_back(key + "@" + std::to_string(report.offset));
    });
  }

  SimulatedClock clock_{SystemTime(seconds(1'000'000))};
  FakeProducer producer_;
  std::vector<std::string> failures_;
  std::vector<std::string> acks_;
  ReliablePublisher publisher_{producer_, clock_,
                               [this](const std::string& topic, const std::string& error) {
                                 failures_.push_back(topic + ": " + error);
                               },
                               kDelay};
};

TEST_F(ReliablePublisherTest, AcknowledgedOnceOnPoll) {
  Publish("a");
  EXPECT_EQ(publisher_.Pending(), 1u);
  EXPECT_THAT(acks_, IsEmpty()) << "callbacks only run from Poll";
  publisher_.Poll(milliseconds(0));
  EXPECT_THAT(acks_, ElementsAre("a@0"));
  EXPECT_EQ(publisher_.Pending(), 0u);
  EXPECT_EQ(publisher_.NextRetry(), std::nullopt);
  for (int i = 0; i < 3; ++i) publisher_.Poll(milliseconds(0));
  EXPECT_THAT(acks_, SizeIs(1));
  EXPECT_THAT(failures_, IsEmpty());
  ASSERT_THAT(producer_.Records(), SizeIs(1));
  EXPECT_EQ(producer_.Records()[0].key, "a");
  EXPECT_EQ(producer_.Records()[0].value, "value-a");
}

TEST_F(ReliablePublisherTest, FailedProduceIsRetriedAfterTheDelay) {
  producer_.FailNextProduces(1);
  const MonoTime failed_at = clock_.MonoNow();
  Publish("a");
  ASSERT_THAT(failures_, SizeIs(1));
  EXPECT_THAT(failures_[0], HasSubstr("t: "));
  EXPECT_THAT(failures_[0], HasSubstr("Queue full"));
  EXPECT_EQ(publisher_.Pending(), 1u);
  EXPECT_EQ(publisher_.NextRetry(), failed_at + kDelay);

  clock_.Advance(kDelay - milliseconds(1));
  publisher_.Poll(milliseconds(0));
  EXPECT_EQ(producer_.produce_calls(), 1) << "not before the delay";
  EXPECT_THAT(acks_, IsEmpty());

  clock_.Advance(milliseconds(1));
  publisher_.Poll(milliseconds(0));
  EXPECT_EQ(producer_.produce_calls(), 2);
  EXPECT_THAT(acks_, ElementsAre("a@0"));
  EXPECT_EQ(publisher_.Pending(), 0u);
  EXPECT_EQ(publisher_.NextRetry(), std::nullopt);
}

TEST_F(ReliablePublisherTest, FailedDeliveryIsProducedAgainUnchanged) {
  producer_.FailNextDeliveries(1);
  Publish("a");
  publisher_.Poll(milliseconds(0));
  EXPECT_THAT(acks_, IsEmpty());
  ASSERT_THAT(failures_, SizeIs(1));
  EXPECT_THAT(failures_[0], HasSubstr("in-sync replicas"));
  EXPECT_EQ(publisher_.Pending(), 1u);
  EXPECT_EQ(publisher_.NextRetry(), clock_.MonoNow() + kDelay);

  clock_.Advance(kDelay);
  publisher_.Poll(milliseconds(0));
  EXPECT_THAT(acks_, ElementsAre("a@0"));
  const auto records = producer_.Records();
  ASSERT_THAT(records, SizeIs(2));
  EXPECT_EQ(records[0].state, FakeProducer::State::kFailed);
  EXPECT_EQ(records[1].state, FakeProducer::State::kAcked);
  EXPECT_EQ(records[1].topic, records[0].topic);
  EXPECT_EQ(records[1].key, records[0].key);
  EXPECT_EQ(records[1].value, records[0].value);
  for (int i = 0; i < 5; ++i) {
    clock_.Advance(kDelay);
    publisher_.Poll(milliseconds(0));
  }
  EXPECT_THAT(acks_, SizeIs(1));
  EXPECT_EQ(producer_.produce_calls(), 2);
}

TEST_F(ReliablePublisherTest, PartitionKeyIsKeptWhenProducedAgain) {
  producer_.FailNextDeliveries(1);
  publisher_.Publish("t", "run-1", "v", nullptr, "nightly");
  publisher_.Poll(milliseconds(0));
  clock_.Advance(kDelay);
  publisher_.Poll(milliseconds(0));
  const auto records = producer_.Records();
  ASSERT_THAT(records, SizeIs(2));
  EXPECT_EQ(records[0].partition_key, "nightly");
  EXPECT_EQ(records[1].partition_key, "nightly");
  EXPECT_EQ(records[1].state, FakeProducer::State::kAcked);
}

TEST_F(ReliablePublisherTest, RepeatedFailuresKeepRetryingAndPreserveOrder) {
  producer_.FailNextProduces(1);
  Publish("a");
  clock_.Advance(milliseconds(50));
  producer_.FailNextProduces(1);
  Publish("b");
  // The retry is due one delay after the first failure, for both.
  EXPECT_EQ(publisher_.NextRetry(), clock_.MonoNow() - milliseconds(50) + kDelay);
  EXPECT_EQ(publisher_.Pending(), 2u);

  // The retry of "a" fails again: both wait another full delay.
  clock_.Advance(kDelay);
  producer_.FailNextProduces(1);
  publisher_.Poll(milliseconds(0));
  EXPECT_THAT(acks_, ElementsAre("b@0"));
  EXPECT_EQ(publisher_.NextRetry(), clock_.MonoNow() + kDelay);
  clock_.Advance(kDelay);
  publisher_.Poll(milliseconds(0));
  EXPECT_THAT(acks_, ElementsAre("b@0", "a@1"));
  EXPECT_THAT(failures_, SizeIs(3));
  EXPECT_EQ(publisher_.Pending(), 0u);
}

TEST_F(ReliablePublisherTest, InFlightMessagesArePending) {
  producer_.HoldDeliveries(true);
  Publish("a");
  Publish("b");
  publisher_.Poll(milliseconds(0));
  EXPECT_EQ(publisher_.Pending(), 2u);
  EXPECT_EQ(publisher_.NextRetry(), std::nullopt) << "in flight is not waiting to retry";
  producer_.HoldDeliveries(false);
  publisher_.Poll(milliseconds(0));
  EXPECT_THAT(acks_, ElementsAre("a@0", "b@1"));
  EXPECT_EQ(publisher_.Pending(), 0u);
}

TEST_F(ReliablePublisherTest, FlushWaitsForRetriesToSucceed) {
  producer_.AdvanceClockOnIdlePoll(&clock_);
  producer_.FailNextProduces(3);
  Publish("a");
  Publish("b");
  // "a" fails, "b" fails; the first retry of "a" fails, then everything goes through.
  EXPECT_TRUE(publisher_.Flush(seconds(5)).has_value());
  EXPECT_THAT(acks_, ::testing::UnorderedElementsAre("a@1", "b@0"));
  EXPECT_EQ(publisher_.Pending(), 0u);
}

TEST_F(ReliablePublisherTest, FlushFailsWhenNothingIsEverDelivered) {
  producer_.AdvanceClockOnIdlePoll(&clock_);
  producer_.HoldDeliveries(true);
  Publish("a");
  Publish("b");
  const MonoTime start = clock_.MonoNow();
  Status flushed = publisher_.Flush(seconds(2));
  ASSERT_FALSE(flushed.has_value());
  EXPECT_EQ(flushed.error().message, "2 message(s) not acknowledged by Kafka");
  EXPECT_GE(clock_.MonoNow() - start, seconds(2));
  EXPECT_LT(clock_.MonoNow() - start, seconds(3));
  EXPECT_THAT(acks_, IsEmpty());
  EXPECT_EQ(publisher_.Pending(), 2u);
}

TEST_F(ReliablePublisherTest, FlushWithNothingPendingReturnsAtOnce) {
  producer_.AdvanceClockOnIdlePoll(&clock_);
  const MonoTime start = clock_.MonoNow();
  EXPECT_TRUE(publisher_.Flush(seconds(2)).has_value());
  EXPECT_EQ(clock_.MonoNow(), start);
}

}  // namespace
}  // namespace krond::kafka
