#include "metrics/metric.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>

#include "metrics/fail.h"

namespace krond::metrics {
namespace {

// Whole increments below this go to the integer half of a Counter; it keeps the integer
// sum exact and far from overflow.
constexpr double kMaxIntegerIncrement = 4294967296.0;  // 2^32

// Rounds to 15 significant digits, which removes the binary noise of repeated
// multiplication (0.001 * 10 = 0.010000000000000002) while keeping every decimal a person
// would write.
double RoundSignificant(double v) {
  char buf[64];
  auto written = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::general, 15);
  double rounded = v;
  std::from_chars(buf, written.ptr, rounded);
  return rounded;
}

}  // namespace

void Counter::Add(double v) {
  // Written so that NaN fails too.
  if (!(v >= 0.0)) {
    internal::Fail("counter increment must be >= 0, got " + std::to_string(v));
  }
  if (v < kMaxIntegerIncrement && v == std::trunc(v)) {
    int_value_.fetch_add(static_cast<uint64_t>(v), std::memory_order_relaxed);
  } else {
    float_value_.fetch_add(v, std::memory_order_relaxed);
  }
}

double Counter::Value() const {
  return static_cast<double>(int_value_.load(std::memory_order_relaxed)) +
         float_value_.load(std::memory_order_relaxed);
}

Histogram::Histogram(std::span<const double> bounds)
    : bounds_(bounds), counts_(std::make_unique<std::atomic<uint64_t>[]>(bounds.size() + 1)) {}

void Histogram::Observe(double v) {
  // First bound with v <= bound (`le` is inclusive). Phrased so that NaN, which compares
  // false with everything, lands in +Inf like values above every bound.
  const auto it = std::partition_point(bounds_.begin(), bounds_.end(),
                                       [v](double bound) { return !(v <= bound); });
  const auto index = static_cast<std::size_t>(it - bounds_.begin());
  counts_[index].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Collect() const {
  Snapshot snapshot;
  snapshot.cumulative.reserve(bounds_.size() + 1);
  uint64_t running = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    running += counts_[i].load(std::memory_order_relaxed);
    snapshot.cumulative.push_back(running);
  }
  snapshot.count = running;
  snapshot.sum = sum_.load(std::memory_order_relaxed);
  return snapshot;
}

std::vector<double> ExponentialBuckets(double start, double factor, std::size_t count) {
  if (!(start > 0.0) || !(factor > 1.0) || count == 0) {
    internal::Fail("ExponentialBuckets needs start > 0, factor > 1 and count >= 1");
  }
  std::vector<double> bounds;
  bounds.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    bounds.push_back(RoundSignificant(start * std::pow(factor, static_cast<double>(i))));
  }
  return bounds;
}

std::vector<double> LinearBuckets(double start, double width, std::size_t count) {
  if (!(width > 0.0) || count == 0) {
    internal::Fail("LinearBuckets needs width > 0 and count >= 1");
  }
  std::vector<double> bounds;
  bounds.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    bounds.push_back(RoundSignificant(start + width * static_cast<double>(i)));
  }
  return bounds;
}

std::vector<double> DefaultLatencyBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 60};
}

}  // namespace krond::metrics
