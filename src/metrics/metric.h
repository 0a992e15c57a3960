#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace krond::metrics {

// The three value types a family holds. Instances are created by a Family (family.h) and
// live as long as the Registry that owns it, so callers look a child up once and keep the
// reference for the hot path. Every mutator is a relaxed atomic operation: no locks, no
// allocation, safe from any thread. Readers (Render) see each value atomically, but not a
// snapshot across values.

// A monotonically increasing count, e.g. runs emitted. Name ends in `_total`.
class Counter {
 public:
  Counter() = default;
  Counter(const Counter&) = delete;
  Counter& operator=(const Counter&) = delete;

  // One lock-prefixed add; the common case.
  void Inc() { int_value_.fetch_add(1, std::memory_order_relaxed); }

  // Adds `v`, which must be >= 0 (a counter that goes down is a bug: crashes). Whole numbers
  // take the integer path; fractions (e.g. CPU seconds) use a compare-and-swap loop.
  void Add(double v);

  double Value() const;

 private:
  // Split like the Go client: integers stay exact past 2^53 increments of 1 and avoid the
  // CAS loop that a double needs.
  std::atomic<uint64_t> int_value_{0};
  std::atomic<double> float_value_{0.0};
};

// A value that goes up and down, e.g. runs in flight or a timestamp in seconds.
class Gauge {
 public:
  Gauge() = default;
  Gauge(const Gauge&) = delete;
  Gauge& operator=(const Gauge&) = delete;

  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double v) { value_.fetch_add(v, std::memory_order_relaxed); }
  void Sub(double v) { value_.fetch_sub(v, std::memory_order_relaxed); }
  void Inc() { Add(1.0); }
  void Dec() { Sub(1.0); }

  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

// Counts observations into buckets with fixed upper bounds (Prometheus `le`, inclusive).
class Histogram {
 public:
  // Point-in-time copy for rendering and tests. `cumulative[i]` counts observations
  // <= bounds[i]; the last element is the +Inf bucket and equals `count`.
  struct Snapshot {
    std::vector<uint64_t> cumulative;
    double sum = 0.0;
    uint64_t count = 0;
  };

  // `bounds` must outlive the histogram (the family owns them); they are strictly
  // increasing and finite, which the Registry checks.
  explicit Histogram(std::span<const double> bounds);
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  // Two relaxed atomic adds (bucket, sum) after a binary search over the bounds. There is no
  // separate count: it is the sum of the buckets, so `_count` always equals the +Inf bucket.
  void Observe(double v);

  // Observes a duration in seconds, the Prometheus base unit.
  template <class Rep, class Period>
  void ObserveDuration(std::chrono::duration<Rep, Period> d) {
    Observe(std::chrono::duration<double>(d).count());
  }

  std::span<const double> Bounds() const { return bounds_; }
  Snapshot Collect() const;

 private:
  std::span<const double> bounds_;
  // bounds_.size() + 1 non-cumulative counts; the last is the +Inf bucket.
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<double> sum_{0.0};
};

// `count` bounds start, start*factor, start*factor^2, ... Each bound is rounded to 15
// significant digits so that `le` labels read "0.01", not "0.010000000000000002".
// Requires start > 0, factor > 1, count >= 1 (else crashes: these are constants in code).
std::vector<double> ExponentialBuckets(double start, double factor, std::size_t count);

// `count` bounds start, start+width, ... Requires width > 0, count >= 1.
std::vector<double> LinearBuckets(double start, double width, std::size_t count);

// Latency buckets in seconds from 1 ms to 60 s on a 1-2.5-5 scale: 0.001, 0.0025, 0.005,
// 0.01, ..., 5, 10, 25, 60. Round numbers keep `le` labels easy to type in queries.
std::vector<double> DefaultLatencyBuckets();

}  // namespace krond::metrics
