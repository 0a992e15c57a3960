// Cost of the metrics hot path (increment, observe), of a label lookup that callers should
// cache, and of rendering a large registry. Run: build/bench/metrics_bench
#include <benchmark/benchmark.h>

#include <string>

#include "metrics/registry.h"

namespace krond::metrics {
namespace {

// Shared by all threads of a benchmark, so Threads(2) measures contention on one cache line.
Registry& SharedRegistry() {
  static Registry* registry = new Registry();
  return *registry;
}

void BM_CounterInc(benchmark::State& state) {
  Counter& counter = SharedRegistry()
                         .AddCounter("krond_bench_runs_total", "Runs.", {"outcome"})
                         .WithLabels({"succeeded"});
  for (auto _ : state) counter.Inc();
}
BENCHMARK(BM_CounterInc)->Threads(1)->Threads(2);

void BM_CounterAddFraction(benchmark::State& state) {
  Counter& counter = SharedRegistry().AddCounter("krond_bench_cpu_seconds_total", "CPU.").Get();
  for (auto _ : state) counter.Add(0.25);
}
BENCHMARK(BM_CounterAddFraction)->Threads(1)->Threads(2);

void BM_GaugeSet(benchmark::State& state) {
  Gauge& gauge = SharedRegistry().AddGauge("krond_bench_in_flight_runs", "In flight.").Get();
  double v = 0;
  for (auto _ : state) gauge.Set(v += 1);
}
BENCHMARK(BM_GaugeSet)->Threads(1)->Threads(2);

void BM_HistogramObserve(benchmark::State& state) {
  Histogram& histogram =
      SharedRegistry()
          .AddHistogram("krond_bench_spawn_seconds", "Spawn.", {"step"}, DefaultLatencyBuckets())
          .WithLabels({"exec"});
  double v = 0.0001;
  for (auto _ : state) {
    histogram.Observe(v);
    v = v > 100 ? 0.0001 : v * 1.7;  // Spread over the buckets.
  }
}
BENCHMARK(BM_HistogramObserve)->Threads(1)->Threads(2);

// What callers avoid by caching the child: a locked map lookup with string copies.
void BM_WithLabelsLookup(benchmark::State& state) {
  auto& family =
      SharedRegistry().AddCounter("krond_bench_lookup_total", "Lookups.", {"cluster", "outcome"});
  for (auto _ : state) family.WithLabels({"cluster-a", "succeeded"}).Inc();
}
BENCHMARK(BM_WithLabelsLookup)->Threads(1)->Threads(2);

void BM_RenderCounters(benchmark::State& state) {
  Registry registry;
  auto& family =
      registry.AddCounter("krond_bench_job_runs_total", "Runs per job.", {"job", "outcome"});
  for (int i = 0; i < state.range(0); ++i) {
    family.WithLabels({"job-" + std::to_string(i), "succeeded"}).Add(i);
  }
  std::size_t bytes = 0;
  for (auto _ : state) {
    std::string text = registry.Render();
    bytes = text.size();
    benchmark::DoNotOptimize(text);
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_RenderCounters)->Arg(1000)->Unit(benchmark::kMicrosecond);

void BM_RenderHistograms(benchmark::State& state) {
  Registry registry;
  auto& family = registry.AddHistogram("krond_bench_job_seconds", "Duration per job.", {"job"},
                                       DefaultLatencyBuckets());
  for (int i = 0; i < state.range(0); ++i) {
    family.WithLabels({"job-" + std::to_string(i)}).Observe(0.001 * i);
  }
  std::size_t bytes = 0;
  for (auto _ : state) {
    std::string text = registry.Render();
    bytes = text.size();
    benchmark::DoNotOptimize(text);
  }
  state.counters["bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_RenderHistograms)->Arg(1000)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace krond::metrics

BENCHMARK_MAIN();
