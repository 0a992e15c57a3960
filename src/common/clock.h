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
  // An absolute CLOCK_REALTIME timer to kSpin before `t`, then a spin on the clock: the timer
  // follows a clock that is stepped meanwhile, and the spin takes out its wake-up latency,
  // which on a busy 2-core host is 1-3 ms at p99 (docs/benchmarks.md, "On-time starts"). A
  // worker sleeps here once per distinct instant (cron instants are whole seconds), so the
  // spin costs at most kSpin of one core a second.
  static constexpr std::chrono::microseconds kSpin{2000};
  void SleepUntil(SystemTime t) const override {
    const auto target = std::chrono::time_point_cast<std::chrono::nanoseconds>(t);
    const auto wake = target - kSpin;
    if (std::chrono::system_clock::now() < wake) {
      const auto ns = wake.time_since_epoch().count();
      const timespec at{static_cast<time_t>(ns / 1'000'000'000),
                        static_cast<long>(ns % 1'000'000'000)};
      while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &at, nullptr) == EINTR) {
      }
    }
    while (std::chrono::system_clock::now() < target) {
    }
  }
};

}  // namespace krond
