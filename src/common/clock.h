#pragma once

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
};

// The real clocks of the machine.
class RealClock final : public Clock {
 public:
  SystemTime Now() const override {
    return std::chrono::time_point_cast<std::chrono::milliseconds>(
        std::chrono::system_clock::now());
  }
  MonoTime MonoNow() const override { return std::chrono::steady_clock::now(); }
};

}  // namespace krond
