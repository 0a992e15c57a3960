#include "metrics/metric.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <thread>
#include <vector>

namespace krond::metrics {
namespace {

TEST(CounterTest, IncAndAdd) {
  Counter counter;
  EXPECT_EQ(counter.Value(), 0);
  counter.Inc();
  counter.Add(2);
  counter.Add(0.5);
  counter.Add(0);
  counter.Add(1e12);  // Whole but large: the floating half.
  EXPECT_EQ(counter.Value(), 1e12 + 3.5);
}

TEST(CounterDeathTest, NegativeOrNanIncrementCrashes) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  Counter counter;
  EXPECT_DEATH(counter.Add(-1), "counter increment must be >= 0");
  EXPECT_DEATH(counter.Add(std::nan("")), "counter increment must be >= 0");
}

TEST(GaugeTest, SetIncDecAddSub) {
  Gauge gauge;
  gauge.Set(10);
  gauge.Inc();
  gauge.Dec();
  gauge.Dec();
  gauge.Add(0.5);
  gauge.Sub(20);
  EXPECT_EQ(gauge.Value(), -10.5);
}

TEST(HistogramTest, BucketsAreInclusiveUpperBounds) {
  const std::vector<double> bounds = {1, 2, 5};
  Histogram histogram(bounds);
  for (double v : {0.5, 1.0, 1.5, 2.0, 5.0, 5.0001, 100.0, -3.0}) histogram.Observe(v);
  const Histogram::Snapshot snapshot = histogram.Collect();
  // <=1: 0.5, 1, -3; <=2: +1.5, 2; <=5: +5; +Inf: +5.0001, 100.
  EXPECT_EQ(snapshot.cumulative, (std::vector<uint64_t>{3, 5, 6, 8}));
  EXPECT_EQ(snapshot.count, 8u);
  EXPECT_DOUBLE_EQ(snapshot.sum, 0.5 + 1 + 1.5 + 2 + 5 + 5.0001 + 100 - 3);
}

TEST(HistogramTest, NanGoesToInfBucket) {
  const std::vector<double> bounds = {1};
  Histogram histogram(bounds);
  histogram.Observe(std::nan(""));
  EXPECT_EQ(histogram.Collect().cumulative, (std::vector<uint64_t>{0, 1}));
}

TEST(HistogramTest, ObserveDurationInSeconds) {
  const std::vector<double> bounds = DefaultLatencyBuckets();
  Histogram histogram(bounds);
  histogram.ObserveDuration(std::chrono::milliseconds(250));
  histogram.ObserveDuration(std::chrono::microseconds(1500));
  const Histogram::Snapshot snapshot = histogram.Collect();
  EXPECT_DOUBLE_EQ(snapshot.sum, 0.2515);
  EXPECT_EQ(snapshot.cumulative[0], 0u);  // le=0.001
  EXPECT_EQ(snapshot.cumulative[1], 1u);  // le=0.0025
  EXPECT_EQ(snapshot.cumulative[7], 2u);  // le=0.25
}

TEST(BucketsTest, Exponential) {
  EXPECT_EQ(ExponentialBuckets(1, 2, 4), (std::vector<double>{1, 2, 4, 8}));
  // Rounded, so the `le` labels read like the decimals a person would write.
  EXPECT_EQ(ExponentialBuckets(0.001, 10, 5), (std::vector<double>{0.001, 0.01, 0.1, 1, 10}));
  EXPECT_EQ(ExponentialBuckets(0.1, 3, 3), (std::vector<double>{0.1, 0.3, 0.9}));
}

TEST(BucketsTest, Linear) {
  EXPECT_EQ(LinearBuckets(0, 0.1, 4), (std::vector<double>{0, 0.1, 0.2, 0.3}));
  EXPECT_EQ(LinearBuckets(-1, 1, 3), (std::vector<double>{-1, 0, 1}));
}

TEST(BucketsTest, DefaultLatencySpansOneMillisecondToAMinute) {
  const std::vector<double> bounds = DefaultLatencyBuckets();
  EXPECT_EQ(bounds.front(), 0.001);
  EXPECT_EQ(bounds.back(), 60);
  for (std::size_t i = 1; i < bounds.size(); ++i) EXPECT_LT(bounds[i - 1], bounds[i]);
}

TEST(BucketsDeathTest, BadParametersCrash) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(ExponentialBuckets(0, 2, 3), "ExponentialBuckets needs");
  EXPECT_DEATH(ExponentialBuckets(1, 1, 3), "ExponentialBuckets needs");
  EXPECT_DEATH(LinearBuckets(0, 1, 0), "LinearBuckets needs");
}

// Increments from several threads must all land: relaxed atomics, no lost updates.
TEST(ConcurrencyTest, ThreadsIncrementingOneCounterGetAnExactTotal) {
  constexpr int kThreads = 4;
  constexpr int kIncrements = 100000;
  Counter counter;
  Gauge gauge;
  const std::vector<double> bounds = {0.5};
  Histogram histogram(bounds);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIncrements; ++i) {
        counter.Inc();
        counter.Add(0.5);  // Exact in binary, so the CAS path must also be exact.
        gauge.Add(1);
        histogram.Observe(i % 2 == 0 ? 0.25 : 1.0);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(counter.Value(), kThreads * kIncrements * 1.5);
  EXPECT_EQ(gauge.Value(), kThreads * kIncrements);
  const Histogram::Snapshot snapshot = histogram.Collect();
  EXPECT_EQ(snapshot.count, static_cast<uint64_t>(kThreads * kIncrements));
  EXPECT_EQ(snapshot.cumulative[0], static_cast<uint64_t>(kThreads * kIncrements / 2));
  EXPECT_EQ(snapshot.sum, kThreads * kIncrements / 2 * 1.25);
}

}  // namespace
}  // namespace krond::metrics
