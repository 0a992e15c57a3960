#include "scheduler/lease.h"

#include <gtest/gtest.h>

namespace krond::scheduler {
namespace {

using std::chrono::milliseconds;
using Verdict = LeaseWatch::Verdict;

const MonoTime kM0 = MonoTime{} + std::chrono::hours(1);
const SystemTime kT0 = SystemTime{} + std::chrono::hours(1000);

messages::LeaseRecord Active(const std::string& owner) { return {owner, false, kT0}; }
messages::LeaseRecord Resigned(const std::string& owner, SystemTime through) {
  return {owner, true, through};
}

// A watch that has read the start-up tail and seen `other`'s heartbeat at kM0.
LeaseWatch Watching(uint64_t seed) {
  LeaseWatch watch({}, "me", seed);
  watch.Reset(kM0);
  watch.CaughtUp(kM0);
  watch.Observe(Active("other"), kM0);
  return watch;
}

// Steps `watch` every 10 ms from `from` until it says take over; returns when.
MonoTime TakeOverTime(LeaseWatch& watch, MonoTime from) {
  for (MonoTime t = from; t < from + std::chrono::seconds(60); t += milliseconds(10)) {
    if (watch.Check(t) == Verdict::kTakeOver) return t;
  }
  ADD_FAILURE() << "never took over";
  return from;
}

TEST(LeaseOptionsTest, HeartbeatsMustComeWellWithinTheTimeout) {
  EXPECT_TRUE(LeaseOptions().Validate().has_value());
  LeaseOptions bad;
  bad.heartbeat_interval = bad.timeout;
  EXPECT_FALSE(bad.Validate().has_value());
  bad.heartbeat_interval = milliseconds(0);
  EXPECT_FALSE(bad.Validate().has_value());
}

TEST(LeaseWatchTest, TakesOverAfterTheTimeoutPlusAJitterItDrawsOnce) {
  for (uint64_t seed = 0; seed < 20; ++seed) {
    LeaseWatch watch = Watching(seed);
    EXPECT_EQ(watch.Check(kM0 + milliseconds(2490)), Verdict::kHeld);
    const MonoTime at = TakeOverTime(watch, kM0 + milliseconds(2490));
    EXPECT_GE(at, kM0 + milliseconds(2500)) << seed;
    EXPECT_LE(at, kM0 + milliseconds(3000)) << seed;
    EXPECT_EQ(watch.Silence(at), std::chrono::duration_cast<milliseconds>(at - kM0));
    EXPECT_EQ(watch.last_owner(), "other");
  }
}

TEST(LeaseWatchTest, AHeartbeatDuringTheJitterCancelsTheTakeover) {
  LeaseWatch watch = Watching(3);
  Verdict first = watch.Check(kM0 + milliseconds(2500));
  ASSERT_NE(first, Verdict::kHeld);
  if (first == Verdict::kExpired) {
    watch.Observe(Active("other"), kM0 + milliseconds(2501));
    EXPECT_EQ(watch.Check(kM0 + milliseconds(3100)), Verdict::kHeld);
  }
}

TEST(LeaseWatchTest, ItsOwnHeartbeatsNeverHoldTheLeaseForIt) {
  LeaseWatch watch = Watching(1);
  watch.Observe(Active("me"), kM0 + milliseconds(2000));
  EXPECT_NE(watch.Check(kM0 + milliseconds(3100)), Verdict::kHeld);
}

TEST(LeaseWatchTest, ALiveResignationIsAHandOverWithoutWaitingOutTheTimeout) {
  LeaseWatch watch = Watching(7);
  watch.Observe(Resigned("other", kT0 + milliseconds(700)), kM0 + milliseconds(800));
  const MonoTime at = TakeOverTime(watch, kM0 + milliseconds(800));
  EXPECT_LE(at, kM0 + milliseconds(900)) << "at most a fifth of the 500 ms jitter";
  EXPECT_EQ(watch.HandoverSince(at), kT0 + milliseconds(700));
  // Too late to count as the hand-over: the gap is an outage again.
  EXPECT_EQ(watch.HandoverSince(kM0 + milliseconds(4000)), std::nullopt);
}

TEST(LeaseWatchTest, AtStartAnEmptyOrResignedTailMeansNobodyLeads) {
  {
    LeaseWatch watch({}, "me", 1);
    watch.Reset(kM0);
    EXPECT_EQ(watch.Check(kM0 + milliseconds(100)), Verdict::kHeld) << "tail not read yet";
    watch.CaughtUp(kM0 + milliseconds(100));
    EXPECT_LE(TakeOverTime(watch, kM0 + milliseconds(100)), kM0 + milliseconds(600));
  }
  {
    LeaseWatch watch({}, "me", 1);
    watch.Reset(kM0);
    watch.Observe(Resigned("old", kT0), kM0);
    watch.CaughtUp(kM0);
    EXPECT_LE(TakeOverTime(watch, kM0), kM0 + milliseconds(100));
    EXPECT_EQ(watch.HandoverSince(kM0), std::nullopt)
        << "a resignation found at start says nothing of when it happened";
  }
  {
    LeaseWatch watch({}, "me", 1);
    watch.Reset(kM0);
    watch.Observe(Active("old"), kM0);
    watch.CaughtUp(kM0);
    EXPECT_GE(TakeOverTime(watch, kM0), kM0 + milliseconds(2500)) << "an active tail: wait";
  }
}

TEST(LeaseWatchTest, ResetGivesANewLeaderAWholeTimeout) {
  LeaseWatch watch = Watching(1);
  ASSERT_NE(watch.Check(kM0 + milliseconds(2600)), Verdict::kHeld);
  watch.Reset(kM0 + milliseconds(2600));  // fenced, or stepped down
  EXPECT_EQ(watch.Check(kM0 + milliseconds(5000)), Verdict::kHeld);
  EXPECT_EQ(watch.NextCheck(), kM0 + milliseconds(5100));
}

}  // namespace
}  // namespace krond::scheduler
