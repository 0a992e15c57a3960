#include "worker/clock_probe.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "fakes/fake_clock_topic.h"
#include "fakes/simulated_clock.h"
#include "metrics/registry.h"

namespace krond::worker {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;
using ::testing::HasSubstr;

constexpr SystemTime kT0{std::chrono::seconds(1'800'000'000)};

class ClockProbeTest : public ::testing::Test {
 protected:
  ClockProbeOptions Options() {
    ClockProbeOptions options;
    options.topic = "p.clock";
    options.probe_id = "worker-1";
    options.samples = 3;
    options.sample_timeout = milliseconds(2000);
    return options;
  }
  double Rounds(const char* result) {
    return metrics_.clock_probe_rounds.WithLabels({result}).Value();
  }

  krond::testing::SimulatedClock clock_{kT0};
  krond::testing::FakeClockTopic topic_{clock_};
  metrics::Registry registry_;
  WorkerMetrics metrics_{registry_};
};

TEST_F(ClockProbeTest, MeasuresAWorkerAheadOfTheBroker) {
  topic_.SetWorkerAhead(milliseconds(120));
  topic_.SetDelays(milliseconds(2), milliseconds(2));
  ClockProbe probe(clock_, topic_.producer(), topic_.follower(), metrics_, Options());
  auto offset = probe.RunOnce();
  ASSERT_TRUE(offset) << offset.error().message;
  EXPECT_EQ(offset->offset, milliseconds(120));
  EXPECT_EQ(offset->round_trip, milliseconds(4));
  EXPECT_EQ(offset->uncertainty(), milliseconds(2));
  EXPECT_DOUBLE_EQ(metrics_.clock_offset.Value(), 0.120);
  EXPECT_DOUBLE_EQ(metrics_.clock_offset_uncertainty.Value(), 0.002);
  EXPECT_EQ(Rounds("ok"), 1);
  EXPECT_EQ(Rounds("failed"), 0);
  EXPECT_EQ(topic_.produced(), 3);
  const std::string text = registry_.Render();
  EXPECT_THAT(text, HasSubstr("krond_worker_clock_offset_seconds 0.12"));
  EXPECT_THAT(text, HasSubstr("krond_worker_clock_probe_rounds_total{result=\"ok\"} 1"));
}

TEST_F(ClockProbeTest, MeasuresAWorkerBehindTheBroker) {
  topic_.SetWorkerAhead(milliseconds(-75));
  ClockProbe probe(clock_, topic_.producer(), topic_.follower(), metrics_, Options());
  auto offset = probe.RunOnce();
  ASSERT_TRUE(offset) << offset.error().message;
  EXPECT_EQ(offset->offset, milliseconds(-75));
  EXPECT_DOUBLE_EQ(metrics_.clock_offset.Value(), -0.075);
}

TEST_F(ClockProbeTest, KeepsTheSampleWithTheShortestRoundTrip) {
  topic_.SetWorkerAhead(milliseconds(10));
  // A slow way there biases the estimate by half the asymmetry (+19 ms), a slow way back
  // the other way (-14 ms); the short symmetric round trip is exact.
  topic_.QueueDelays(milliseconds(40), milliseconds(2));
  topic_.QueueDelays(milliseconds(3), milliseconds(3));
  topic_.QueueDelays(milliseconds(2), milliseconds(30));
  ClockProbe probe(clock_, topic_.producer(), topic_.follower(), metrics_, Options());
  auto offset = probe.RunOnce();
  ASSERT_TRUE(offset) << offset.error().message;
  EXPECT_EQ(offset->offset, milliseconds(10));
  EXPECT_EQ(offset->round_trip, milliseconds(6));
}

TEST_F(ClockProbeTest, TheTrueOffsetIsWithinTheUncertainty) {
  topic_.SetWorkerAhead(milliseconds(-30));
  topic_.QueueDelays(milliseconds(25), milliseconds(1));
  auto options = Options();
  options.samples = 1;
  ClockProbe probe(clock_, topic_.producer(), topic_.follower(), metrics_, options);
  auto offset = probe.RunOnce();
  ASSERT_TRUE(offset) << offset.error().message;
  EXPECT_EQ(offset->offset, milliseconds(-30 - 12));
  EXPECT_LE(std::chrono::abs(offset->offset - milliseconds(-30)), offset->uncertainty());
}

TEST_F(ClockProbeTest, SkipsOtherWorkersProbesAndItsOwnOlderOnes) {
  topic_.SetWorkerAhead(milliseconds(5));
  topic_.AppendForeign("worker-2#1");
  topic_.AppendForeign("worker-1#99");
  ClockProbe probe(clock_, topic_.producer(), topic_.follower(), metrics_, Options());
  auto offset = probe.RunOnce();
  ASSERT_TRUE(offset) << offset.error().message;
  EXPECT_EQ(offset->offset, milliseconds(5));
  // A second round, with another worker's probe arriving in between.
  topic_.AppendForeign("worker-2#2");
  topic_.SetWorkerAhead(milliseconds(7));
  offset = probe.RunOnce();
  ASSERT_TRUE(offset) << offset.error().message;
  EXPECT_EQ(offset->offset, milliseconds(7));
  EXPECT_EQ(Rounds("ok"), 2);
}

TEST_F(ClockProbeTest, BrokerErrorsWhileWaitingAreRiddenOut) {
  topic_.FailNextPolls(3);
  ClockProbe probe(clock_, topic_.producer(), topic_.follower(), metrics_, Options());
  EXPECT_TRUE(probe.RunOnce());
}

TEST_F(ClockProbeTest, AProbeNeverReadBackFailsTheRoundAndKeepsTheLastOffset) {
  topic_.SetWorkerAhead(milliseconds(60));
  auto options = Options();
  options.samples = 1;
  ClockProbe probe(clock_, topic_.producer(), topic_.follower(), metrics_, options);
  ASSERT_TRUE(probe.RunOnce());
  topic_.DropNextProbes(1);
  const MonoTime before = clock_.MonoNow();
  auto offset = probe.RunOnce();
  ASSERT_FALSE(offset);
  EXPECT_THAT(offset.error().message, HasSubstr("not read back from p.clock within 2000 ms"));
  EXPECT_GE(clock_.MonoNow() - before, milliseconds(2000));
  EXPECT_EQ(Rounds("failed"), 1);
  EXPECT_DOUBLE_EQ(metrics_.clock_offset.Value(), 0.060);
  // The next round works again.
  EXPECT_TRUE(probe.RunOnce());
  EXPECT_EQ(Rounds("ok"), 2);
}

TEST_F(ClockProbeTest, ALostProbeAfterAGoodOneEndsTheRoundWithTheGoodOne) {
  topic_.SetWorkerAhead(milliseconds(3));
  topic_.DropNextProbes(1, /*after=*/1);
  ClockProbe probe(clock_, topic_.producer(), topic_.follower(), metrics_, Options());
  const MonoTime before = clock_.MonoNow();
  auto offset = probe.RunOnce();
  ASSERT_TRUE(offset) << offset.error().message;
  EXPECT_EQ(offset->offset, milliseconds(3));
  EXPECT_EQ(topic_.produced(), 2);  // of 3 samples: the lost one ended the round
  EXPECT_GE(clock_.MonoNow() - before, milliseconds(2000));
  EXPECT_EQ(Rounds("ok"), 1);
}

TEST_F(ClockProbeTest, ARefusedWriteFailsTheRoundAtOnce) {
  topic_.RefuseWrites(kafka::ProduceErrorKind::kUnauthorized);
  ClockProbe probe(clock_, topic_.producer(), topic_.follower(), metrics_, Options());
  const MonoTime before = clock_.MonoNow();
  auto offset = probe.RunOnce();
  ASSERT_FALSE(offset);
  EXPECT_THAT(offset.error().message, HasSubstr("probe not written to p.clock: fake: refused"));
  EXPECT_LT(clock_.MonoNow() - before, milliseconds(2000));
  EXPECT_EQ(topic_.produced(), 1);  // the round gave up after the first refusal
  EXPECT_EQ(Rounds("failed"), 1);
}

TEST_F(ClockProbeTest, ATopicWithoutLogAppendTimeIsAnErrorNotAZeroOffset) {
  topic_.SetWorkerAhead(milliseconds(500));
  topic_.SetLogAppendTime(false);
  ClockProbe probe(clock_, topic_.producer(), topic_.follower(), metrics_, Options());
  auto offset = probe.RunOnce();
  ASSERT_FALSE(offset);
  EXPECT_THAT(offset.error().message, HasSubstr("message.timestamp.type=LogAppendTime"));
  EXPECT_EQ(metrics_.clock_offset.Value(), 0);
}

TEST_F(ClockProbeTest, StartsAndStopsItsThread) {
  auto options = Options();
  options.interval = milliseconds(1);
  ClockProbe probe(clock_, topic_.producer(), topic_.follower(), metrics_, options);
  probe.Start();
  probe.Stop();
  probe.Stop();  // idempotent
}

TEST_F(ClockProbeTest, IntervalZeroRunsNothing) {
  auto options = Options();
  options.interval = milliseconds(0);
  {
    ClockProbe probe(clock_, topic_.producer(), topic_.follower(), metrics_, options);
    probe.Start();
  }
  EXPECT_EQ(topic_.produced(), 0);
  EXPECT_EQ(Rounds("ok") + Rounds("failed"), 0);
}

TEST(ClockProbeOptions, Validate) {
  ClockProbeOptions options;
  EXPECT_FALSE(options.Validate());
  options.topic = "p.clock";
  options.probe_id = "w";
  EXPECT_TRUE(options.Validate());
  options.samples = 0;
  EXPECT_FALSE(options.Validate());
  options.samples = 5;
  options.interval = milliseconds(-1);
  EXPECT_FALSE(options.Validate());
  options.interval = milliseconds(0);
  options.sample_timeout = milliseconds(0);
  EXPECT_FALSE(options.Validate());
}

}  // namespace
}  // namespace krond::worker
