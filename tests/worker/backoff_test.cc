#include "worker/backoff.h"

#include <gtest/gtest.h>

#include <limits>

namespace krond::worker {
namespace {

using messages::Outcome;
using std::chrono::milliseconds;

messages::RetrySpec Spec(double jitter) {
  messages::RetrySpec s;
  s.backoff = milliseconds(1000);
  s.max_backoff = milliseconds(10'000);
  s.multiplier = 2.0;
  s.jitter = jitter;
  return s;
}

TEST(BackoffTest, ExponentialWithoutJitterCappedAtMax) {
  const auto s = Spec(0);
  EXPECT_EQ(RetryDelay(s, 2, 0.5), milliseconds(1000));
  EXPECT_EQ(RetryDelay(s, 3, 0.5), milliseconds(2000));
  EXPECT_EQ(RetryDelay(s, 4, 0.5), milliseconds(4000));
  EXPECT_EQ(RetryDelay(s, 5, 0.5), milliseconds(8000));
  EXPECT_EQ(RetryDelay(s, 6, 0.5), milliseconds(10'000));
  EXPECT_EQ(RetryDelay(s, 100, 0.5), milliseconds(10'000));
  // Without jitter u does not matter.
  EXPECT_EQ(RetryDelay(s, 3, 0.0), milliseconds(2000));
  EXPECT_EQ(RetryDelay(s, 3, 1.0), milliseconds(2000));
}

TEST(BackoffTest, AttemptOneOrLessUsesTheBaseDelay) {
  EXPECT_EQ(RetryDelay(Spec(0), 1, 0.5), milliseconds(1000));
  EXPECT_EQ(RetryDelay(Spec(0), 0, 0.5), milliseconds(1000));
}

TEST(BackoffTest, MultiplierOneIsConstant) {
  auto s = Spec(0);
  s.multiplier = 1.0;
  for (int attempt = 2; attempt < 20; ++attempt)
    EXPECT_EQ(RetryDelay(s, attempt, 0.3), milliseconds(1000));
}

TEST(BackoffTest, JitterSpreadsSymmetricallyAroundTheDelay) {
  const auto s = Spec(0.2);
  // u = 0: -20 %; u = 1: +20 %; u = 0.5: exact.
  EXPECT_EQ(RetryDelay(s, 3, 0.0), milliseconds(1600));
  EXPECT_EQ(RetryDelay(s, 3, 1.0), milliseconds(2400));
  EXPECT_EQ(RetryDelay(s, 3, 0.5), milliseconds(2000));
  for (double u = 0; u < 1.0; u += 0.01) {
    const auto d = RetryDelay(s, 3, u);
    EXPECT_GE(d, milliseconds(1600));
    EXPECT_LE(d, milliseconds(2400));
  }
}

TEST(BackoffTest, JitterNeverExceedsTheCapNorGoesNegative) {
  auto s = Spec(0.5);
  // At the cap, positive jitter is cut back to the cap; negative still applies.
  EXPECT_EQ(RetryDelay(s, 10, 1.0), milliseconds(10'000));
  EXPECT_EQ(RetryDelay(s, 10, 0.0), milliseconds(5000));
  s.jitter = 1.0;
  EXPECT_EQ(RetryDelay(s, 2, 0.0), milliseconds(0));
  EXPECT_EQ(RetryDelay(s, 2, 1.0), milliseconds(2000));
}

// Decoders reject these (messages::DecodeTask); RetryDelay must still never return a
// negative delay nor reach std::clamp with reversed bounds or llround with NaN.
TEST(BackoffTest, OutOfRangeSpecsGiveADelayWithinZeroAndTheCap) {
  auto s = Spec(0.2);
  s.max_backoff = milliseconds(-5000);
  EXPECT_EQ(RetryDelay(s, 3, 0.9), milliseconds(0));
  s = Spec(0.2);
  s.backoff = milliseconds(-1000);
  EXPECT_EQ(RetryDelay(s, 3, 0.9), milliseconds(0));
  s = Spec(0);
  s.multiplier = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(RetryDelay(s, 3, 0.5), milliseconds(10'000));
  s = Spec(0);
  s.multiplier = 1e300;
  EXPECT_EQ(RetryDelay(s, 100, 0.5), milliseconds(10'000));
  s = Spec(std::numeric_limits<double>::infinity());
  EXPECT_EQ(RetryDelay(s, 3, 0.5), milliseconds(10'000));
}

TEST(BackoffTest, IsRetriedFollowsRetryOn) {
  messages::RetrySpec s;  // default: failed, timed_out
  EXPECT_TRUE(IsRetried(s, Outcome::kFailed));
  EXPECT_TRUE(IsRetried(s, Outcome::kTimedOut));
  EXPECT_FALSE(IsRetried(s, Outcome::kSucceeded));
  EXPECT_FALSE(IsRetried(s, Outcome::kKilled));
  EXPECT_FALSE(IsRetried(s, Outcome::kSpawnFailed));
  EXPECT_FALSE(IsRetried(s, Outcome::kInvalid));
  s.retry_on = {"timed_out"};
  EXPECT_FALSE(IsRetried(s, Outcome::kFailed));
  EXPECT_TRUE(IsRetried(s, Outcome::kTimedOut));
  s.retry_on = {};
  EXPECT_FALSE(IsRetried(s, Outcome::kTimedOut));
}

}  // namespace
}  // namespace krond::worker
