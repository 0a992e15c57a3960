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
  // Publishes a message whose acknowledgements are recorded in acks_ ("key@offset") and
  // permanent failures in given_up_ ("key: kind").
  void Publish(const std::string& key, const std::string& topic = "t") {
    publisher_.Publish(topic, key, "value-" + key, [this, key](const DeliveryReport& report) {
      if (report.status) {
        acks_.push_back(key + "@" + std::to_string(report.offset));
      } else {
        given_up_.push_back(key + ": " + std::string(ProduceErrorName(report.status.error().kind)));
      }
    });
  }

  SimulatedClock clock_{SystemTime(seconds(1'000'000))};
  FakeProducer producer_;
  std::vector<std::string> failures_;
  std::vector<std::string> acks_;
  std::vector<std::string> given_up_;
  ReliablePublisher publisher_{
      producer_,
      clock_,
      [this](const std::string& topic, const ProduceError& error, ReliablePublisher::Next next) {
        const char* suffix = next == ReliablePublisher::Next::kRetry   ? ""
                             : next == ReliablePublisher::Next::kAlone ? " (alone)"
                                                                       : " (given up)";
        failures_.push_back(topic + ": " + error.message + suffix);
      },
      {.retry_delay = kDelay, .max_retry_delay = 4 * kDelay, .unknown_topic_grace = seconds(10)}};
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

  // The retry of "a" fails again: it waits twice as long, since its round failed.
  clock_.Advance(kDelay);
  producer_.FailNextProduces(1);
  publisher_.Poll(milliseconds(0));
  EXPECT_THAT(acks_, ElementsAre("b@0"));
  EXPECT_EQ(publisher_.NextRetry(), clock_.MonoNow() + 2 * kDelay);
  clock_.Advance(2 * kDelay);
  publisher_.Poll(milliseconds(0));
  EXPECT_THAT(acks_, ElementsAre("b@0", "a@1"));
  EXPECT_THAT(failures_, SizeIs(3));
  EXPECT_EQ(publisher_.Pending(), 0u);
  // An acknowledgement resets the delay.
  producer_.FailNextProduces(1);
  Publish("c");
  EXPECT_EQ(publisher_.NextRetry(), clock_.MonoNow() + kDelay);
}

TEST_F(ReliablePublisherTest, TheDelayDoublesUpToTheMaximum) {
  producer_.FailNextDeliveries(10);
  Publish("a");
  std::vector<milliseconds> waits;
  for (int i = 0; i < 5; ++i) {
    publisher_.Poll(milliseconds(0));
    ASSERT_TRUE(publisher_.NextRetry().has_value());
    const auto wait =
        std::chrono::duration_cast<milliseconds>(*publisher_.NextRetry() - clock_.MonoNow());
    waits.push_back(wait);
    clock_.Advance(wait);
  }
  EXPECT_THAT(waits, ElementsAre(kDelay, 2 * kDelay, 4 * kDelay, 4 * kDelay, 4 * kDelay));
  EXPECT_THAT(acks_, IsEmpty());
  EXPECT_THAT(given_up_, IsEmpty()) << "retriable errors never give up";
}

// A record over the broker's size limit, or one the broker does not allow, fails the same
// way each time: retrying it forever blocked every record behind it (issue 19).
TEST_F(ReliablePublisherTest, PermanentErrorsEndTheMessageOnceAndOthersFlow) {
  for (ProduceErrorKind kind : {ProduceErrorKind::kUnauthorized, ProduceErrorKind::kInvalid}) {
    acks_.clear();
    given_up_.clear();
    failures_.clear();
    producer_.FailNextDeliveries(1, kind);
    Publish("bad");
    Publish("good");
    publisher_.Poll(milliseconds(0));
    EXPECT_THAT(given_up_, ElementsAre("bad: " + std::string(ProduceErrorName(kind))));
    EXPECT_THAT(acks_, SizeIs(1));
    EXPECT_THAT(failures_, ElementsAre(HasSubstr("(given up)")));
    EXPECT_EQ(publisher_.Pending(), 0u);
    EXPECT_EQ(publisher_.NextRetry(), std::nullopt);
    for (int i = 0; i < 3; ++i) {
      clock_.Advance(seconds(10));
      publisher_.Poll(milliseconds(0));
    }
    EXPECT_THAT(given_up_, SizeIs(1)) << "told once";
  }
}

// The broker checks a batch's size, not a message's: "too large" may be the batch's fault, so
// the message gets one attempt on its own before it is given up.
TEST_F(ReliablePublisherTest, TooLargeFromTheBrokerIsTriedAloneOnceThenGivenUp) {
  producer_.RefuseTopic("t", ProduceErrorKind::kTooLarge);
  Publish("big");
  publisher_.Poll(milliseconds(0));
  EXPECT_THAT(failures_, ElementsAre(HasSubstr("(alone)")));
  EXPECT_THAT(given_up_, IsEmpty());
  EXPECT_EQ(publisher_.Pending(), 1u);
  EXPECT_EQ(producer_.produce_calls(), 2) << "produced again at once: no retry delay";
  publisher_.Poll(milliseconds(0));
  EXPECT_THAT(given_up_, ElementsAre("big: too_large"));
  EXPECT_THAT(failures_, ElementsAre(HasSubstr("(alone)"), HasSubstr("(given up)")));
  EXPECT_EQ(publisher_.Pending(), 0u);
  clock_.Advance(seconds(10));
  publisher_.Poll(milliseconds(0));
  EXPECT_EQ(producer_.produce_calls(), 2) << "never again";
}

// Issue 19: a small result batched with a 200 KB one was refused with it, then replaced by a
// result without its output. Produced alone, it is delivered as it was.
TEST_F(ReliablePublisherTest, ASmallMessageRefusedWithItsBatchIsDeliveredAlone) {
  producer_.FailNextDeliveries(3, ProduceErrorKind::kTooLarge);  // the batch, then big alone
  Publish("big");
  Publish("small");
  publisher_.Poll(milliseconds(0));
  EXPECT_EQ(producer_.produce_calls(), 3) << "big alone, small waits for it";
  Publish("later");
  EXPECT_EQ(producer_.produce_calls(), 3) << "held: it would share the batch of big";
  EXPECT_THAT(publisher_.PendingKeys(), ::testing::UnorderedElementsAre("big", "small", "later"));
  publisher_.Poll(milliseconds(0));
  EXPECT_THAT(given_up_, ElementsAre("big: too_large"));
  EXPECT_EQ(producer_.produce_calls(), 4) << "small alone";
  publisher_.Poll(milliseconds(0));
  publisher_.Poll(milliseconds(0));
  EXPECT_THAT(acks_, ElementsAre("small@0", "later@1"));
  EXPECT_THAT(given_up_, SizeIs(1));
  EXPECT_EQ(publisher_.Pending(), 0u);
  std::vector<std::string> keys;
  for (const auto& record : producer_.Records()) keys.push_back(record.key);
  EXPECT_THAT(keys, ElementsAre("big", "small", "big", "small", "later"));
}

TEST_F(ReliablePublisherTest, APermanentProduceCallFailureEndsTheMessageAtOnce) {
  producer_.SetMaxMessageBytes(4);
  Publish("too-long-key");
  EXPECT_THAT(given_up_, ElementsAre("too-long-key: too_large"));
  EXPECT_EQ(publisher_.Pending(), 0u);
  EXPECT_EQ(producer_.produce_calls(), 1);
}

TEST_F(ReliablePublisherTest, AnUnknownTopicIsRetriedForItsGraceThenGivenUp) {
  producer_.RefuseTopic("new", ProduceErrorKind::kUnknownTopic);
  Publish("a", "new");
  publisher_.Poll(milliseconds(0));
  EXPECT_EQ(publisher_.Pending(), 1u) << "the topic may be being created";
  // Created within the grace: delivered.
  clock_.Advance(seconds(5));
  producer_.RefuseTopic("new", std::nullopt);
  publisher_.Poll(milliseconds(0));
  publisher_.Poll(milliseconds(0));
  EXPECT_THAT(acks_, ElementsAre("a@0"));

  producer_.RefuseTopic("gone", ProduceErrorKind::kUnknownTopic);
  Publish("b", "gone");
  for (int i = 0; i < 30 && given_up_.empty(); ++i) {
    clock_.Advance(seconds(1));
    publisher_.Poll(milliseconds(0));
  }
  EXPECT_THAT(given_up_, ElementsAre("b: unknown_topic"));
  EXPECT_EQ(publisher_.Pending(), 0u);
}

TEST_F(ReliablePublisherTest, OnDoneMayPublishAReplacement) {
  producer_.RefuseTopic("t", ProduceErrorKind::kTooLarge);
  publisher_.Publish("t", "k", "big", [this](const DeliveryReport& report) {
    ASSERT_FALSE(report.status);
    publisher_.Publish("other", "k", "small", [this](const DeliveryReport& r) {
      if (r.status) acks_.push_back("replacement");
    });
  });
  for (int i = 0; i < 3; ++i) publisher_.Poll(milliseconds(0));  // refused, refused alone, ack
  EXPECT_THAT(acks_, ElementsAre("replacement"));
  EXPECT_EQ(publisher_.Pending(), 0u);
}

TEST_F(ReliablePublisherTest, PendingKeysNameWhatIsInFlightOrWaiting) {
  producer_.HoldDeliveries(true);
  Publish("a");
  producer_.FailNextProduces(1);
  Publish("b");
  EXPECT_THAT(publisher_.PendingKeys(), ::testing::UnorderedElementsAre("a", "b"));
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
