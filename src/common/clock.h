#pragma once

#include <time.h>

#include <cerrno>
#include <chrono>

namespace krond {

using SystemTime = std::chrono::time_point<std::chrono::system_clock, std::chrono::milliseconds>;
using MonoTime = std::chrono::steady_clock::time_point;

// The only source of "now" in krond. Production code takes a Clock&; tests pass a
// SimulatedClock (tests/fakes/simulated_clock.h). Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  // Wall-clock time, for schedules and timestamps in messages.
  virtual SystemTime Now() const = 0;
  // Monotonic time, for timeouts and durations.
  virtual MonoTime MonoNow() const = 0;
  // Returns once Now() has reached `t` (at once if it has): the worker starts a run held
  // ahead of its instant with it, so the real clock sleeps on the wall clock itself, not on a
  // duration computed from it.
  virtual void SleepUntil(SystemTime t) const = 0;
};

// The real clocks of the machine.
class RealClock final : public Clock {
 public:
  SystemTime Now() const override {
    return std::chrono::time_point_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now());
  }
  MonoTime MonoNow() const override { return std::chrono::steady_clock::now(); }
  // An absolute CLOCK_REALTIME timer: it wakes on the instant itself (within the kernel's
  // timer slack, 50 us by default) and follows a clock that is stepped meanwhile.
  void SleepUntil(SystemTime t) const override {
    const auto ns = std::chrono::nanoseconds(t.time_since_epoch()).count();
    const timespec at{static_cast<time_t>(ns / 1'000'000'000),
                      static_cast<long>(ns % 1'000'000'000)};
    while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &at, nullptr) == EINTR) {
    }
  }
};

}  // namespace krond
