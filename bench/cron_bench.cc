// Cost of the cron engine on typical expressions: Schedule::Parse, and Schedule::Next in
// America/New_York from start times spread over 2026 (so DST periods and month ends are hit).
// Run: build-release/bench/cron_bench (see docs/benchmarks.md).
#include <benchmark/benchmark.h>
#include <date/tz.h>

#include <chrono>
#include <random>
#include <vector>

#include "cron/schedule.h"

namespace krond::cron {
namespace {

constexpr const char* kExpressions[] = {
    "*/5 * * * *",
    "30 2 * * *",
    "0 9 * * MON-FRI",
    "0 0 L * *",
    "0 0 * * 5L",
    "@every 1h30m",
    // Rare: a fifth Monday in February (2016, 2044, ...), so Next walks years of DST periods.
    "0 0 * 2 1#5",
};

const date::time_zone* NewYork() {
  static const date::time_zone* const zone = date::locate_zone("America/New_York");
  return zone;
}

// 1024 start times, uniformly spread over 2026, with milliseconds.
const std::vector<SystemTime>& Starts() {
  static const std::vector<SystemTime> starts = [] {
    std::mt19937_64 rng(2026);
    std::uniform_int_distribution<int64_t> ms(1'767'225'600'000, 1'798'761'600'000);
    std::vector<SystemTime> out;
    for (int i = 0; i < 1024; ++i) out.push_back(SystemTime(std::chrono::milliseconds(ms(rng))));
    return out;
  }();
  return starts;
}

void BM_Parse(benchmark::State& state) {
  const char* expr = kExpressions[state.range(0)];
  state.SetLabel(expr);
  const auto* zone = NewYork();
  for (auto _ : state) {
    auto schedule = Schedule::Parse(expr, zone);
    benchmark::DoNotOptimize(schedule);
  }
  state.counters["sizeof_Compiled"] = sizeof(Schedule::Compiled);
}

void BM_Next(benchmark::State& state) {
  const char* expr = kExpressions[state.range(0)];
  state.SetLabel(expr);
  const Schedule schedule = *Schedule::Parse(expr, NewYork());
  const auto& starts = Starts();
  size_t i = 0;
  for (auto _ : state) {
    auto next = schedule.Next(starts[i++ & 1023]);
    benchmark::DoNotOptimize(next);
  }
}

void Expressions(benchmark::internal::Benchmark* b) {
  for (int i = 0; i < static_cast<int>(std::size(kExpressions)); ++i) b->Arg(i);
  b->Repetitions(5)->ReportAggregatesOnly(true)->DisplayAggregatesOnly(true);
}

BENCHMARK(BM_Parse)->Apply(Expressions);
BENCHMARK(BM_Next)->Apply(Expressions);

}  // namespace
}  // namespace krond::cron
