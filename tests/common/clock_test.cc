#include "common/clock.h"

#include <gtest/gtest.h>

#include <chrono>

namespace krond {
namespace {

using std::chrono::milliseconds;
using std::chrono::system_clock;

// A held run must never start before its instant: SleepUntil returns only once the wall
// clock has reached it, whether it sleeps first (far) or only spins (within RealClock::kSpin).
TEST(RealClockSleepUntil, NeverReturnsBeforeTheInstant) {
  const RealClock clock;
  for (const milliseconds ahead : {milliseconds(1), milliseconds(20), milliseconds(0)}) {
    const auto target = std::chrono::time_point_cast<milliseconds>(system_clock::now()) + ahead;
    clock.SleepUntil(SystemTime(target));
    EXPECT_GE(system_clock::now(), target) << "ahead " << ahead.count() << " ms";
  }
}

TEST(RealClockSleepUntil, ReturnsAtOnceForAPastInstant) {
  const RealClock clock;
  const auto before = clock.MonoNow();
  clock.SleepUntil(clock.Now() - std::chrono::hours(1));
  // Not a timing target: a past instant must not be slept to, which would take an hour.
  EXPECT_LT(clock.MonoNow() - before, std::chrono::seconds(10));
}

}  // namespace
}  // namespace krond
