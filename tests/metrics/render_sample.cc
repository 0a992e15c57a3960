// Prints a registry that holds every kind of metric, with awkward label values and an
// overflowed family, for `promtool check metrics` (see promtool_check.cmake).
#include <chrono>
#include <cmath>
#include <iostream>
#include <limits>

#include "metrics/registry.h"

int main() {
  using krond::metrics::DefaultLatencyBuckets;
  krond::metrics::Registry registry;
  registry.AddBuildInfo({{"version", "0.1.0"}, {"revision", "072f19c"}});

  registry.AddCounter("krond_sample_ticks_total", "Label-less counter.").Get().Add(3);
  auto& runs = registry.AddCounter("krond_sample_runs_total", "Runs by \"outcome\".\nTwo lines",
                                   {"cluster", "outcome"});
  runs.WithLabels({"cluster-a", "succeeded"}).Inc();
  runs.WithLabels({"quote\"back\\slash", "new\nline"}).Add(2.5);
  runs.WithLabels({"caf\xc3\xa9", "bad\xff"}).Inc();

  auto& small =
      registry.AddCounter("krond_sample_capped_total", "Overflows.", {"job"}, {.max_children = 2});
  for (const char* job : {"a", "b", "c", "d"}) small.WithLabels({job}).Inc();

  auto& lag = registry.AddGauge("krond_sample_lag_seconds", "Gauge values.", {"kind"});
  lag.WithLabels({"negative"}).Set(-1.5);
  lag.WithLabels({"tiny"}).Set(1.5e-9);
  lag.WithLabels({"huge"}).Set(1e300);
  lag.WithLabels({"inf"}).Set(std::numeric_limits<double>::infinity());
  lag.WithLabels({"nan"}).Set(std::nan(""));
  lag.WithLabels({"timestamp"}).Set(1772953200);

  auto& latency = registry.AddHistogram("krond_sample_latency_seconds", "Latencies.", {"step"},
                                        DefaultLatencyBuckets());
  latency.WithLabels({"spawn"}).ObserveDuration(std::chrono::milliseconds(3));
  latency.WithLabels({"spawn"}).Observe(120);
  latency.WithLabels({"publish"}).Observe(0.0004);
  registry
      .AddHistogram("krond_sample_size_bytes", "Sizes.", {},
                    krond::metrics::ExponentialBuckets(64, 4, 6))
      .Get()
      .Observe(1000);

  registry.AddCallbackGauge("krond_sample_in_flight_runs", "Computed at render time.",
                            [] { return 7.0; });
  std::cout << registry.Render();
  return 0;
}
