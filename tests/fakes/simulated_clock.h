#pragma once

#include <mutex>

#include "common/clock.h"

namespace krond::testing {

// A Clock whose time only moves when a test says so. Thread-safe.
class SimulatedClock final : public Clock {
 public:
  explicit SimulatedClock(SystemTime start = SystemTime{}) : start_(start), now_(start) {}

  SystemTime Now() const override {
    std::lock_guard lock(mu_);
    return now_;
  }
  MonoTime MonoNow() const override {
    std::lock_guard lock(mu_);
    return MonoTime{} + (now_ - start_) + std::chrono::hours(1);
  }
  // Simulated time does not wait: sleeping to `t` moves the clock there.
  void SleepUntil(SystemTime t) const override {
    std::lock_guard lock(mu_);
    if (t > now_) now_ = t;
  }
  void Set(SystemTime t) {
    std::lock_guard lock(mu_);
    now_ = t;
  }
  void Advance(std::chrono::milliseconds d) {
    std::lock_guard lock(mu_);
    now_ += d;
  }

 private:
  mutable std::mutex mu_;
  SystemTime start_{};
  mutable SystemTime now_;
};

}  // namespace krond::testing
