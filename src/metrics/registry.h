#pragma once

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "metrics/family.h"
#include "metrics/metric.h"

namespace krond::metrics {

// Counts label sets refused by a family's cardinality guard, labelled by family name.
inline constexpr std::string_view kLabelOverflowMetric = "krond_metrics_label_overflow_total";
inline constexpr std::string_view kBuildInfoMetric = "krond_build_info";

// Owns every metric family of a process and renders them for Prometheus.
//
// One Registry per process, created in main and passed by reference to each component,
// which declares its metrics once in a block of references, e.g.
//
//   struct SchedulerMetrics {
//     explicit SchedulerMetrics(metrics::Registry& r)
//         : ticks(r.AddCounter("krond_scheduler_ticks_total", "Scheduler ticks.").Get()),
//           runs(r.AddCounter("krond_scheduler_runs_total", "Runs emitted.", {"outcome"})) {}
//     metrics::Counter& ticks;                  // Label-less: the child itself.
//     metrics::Family<metrics::Counter>& runs;  // Labelled: WithLabels() at setup, cached.
//   };
//
// Registration validates names and crashes on a bad or conflicting definition: those are
// programming errors, found by the first test that constructs the component. Registering an
// identical definition again returns the existing family, so two instances of a component
// can share a registry.
//
// Thread safety: every method is thread-safe. Families and children are never removed, so
// references returned here stay valid until the Registry is destroyed.
class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // `name` must end in `_total`. `help` is one sentence, required.
  Family<Counter>& AddCounter(std::string name, std::string help,
                              std::vector<std::string> label_names = {},
                              FamilyOptions options = {});

  Family<Gauge>& AddGauge(std::string name, std::string help,
                          std::vector<std::string> label_names = {}, FamilyOptions options = {});

  // `buckets` are the finite upper bounds, strictly increasing; +Inf is implicit. Use
  // DefaultLatencyBuckets() for durations in seconds. The label name "le" is reserved.
  Family<Histogram>& AddHistogram(std::string name, std::string help,
                                  std::vector<std::string> label_names, std::vector<double> buckets,
                                  FamilyOptions options = {});

  // A label-less gauge computed at render time (see CallbackGauge). A name can hold one
  // callback: registering it twice crashes.
  CallbackGauge& AddCallbackGauge(std::string name, std::string help,
                                  std::function<double()> callback);

  // Exports `krond_build_info{<labels>} 1`, the usual way to publish version strings so
  // that queries can join on them, e.g. AddBuildInfo({{"version", "0.1.0"}}). Once per
  // registry (crashes on a second call).
  void AddBuildInfo(const std::vector<std::pair<std::string, std::string>>& labels);

  // Every family with at least one child, sorted by name, in the Prometheus text exposition
  // format 0.0.4 (serve as `text/plain; version=0.0.4; charset=utf-8`). Does not hold the
  // registry lock while rendering, so callback gauges may use the registry.
  std::string Render() const;

 private:
  template <class F, class... Args>
  F& Add(FamilyDefinition definition, Args&&... args);

  mutable std::mutex mu_;
  // Sorted by name: the render order. Guarded by mu_.
  std::map<std::string, std::unique_ptr<FamilyBase>, std::less<>> families_;
  Family<Counter>* overflow_family_ = nullptr;
};

// Checks a definition against the Prometheus data model and krond's naming rules:
//  - metric names match [a-zA-Z_][a-zA-Z0-9_]* (colons are reserved for recording rules);
//  - label names match [a-zA-Z_][a-zA-Z0-9_]*, do not start with "__" and are unique;
//  - counters end in `_total`, other types do not; only histograms may end in `_bucket`,
//    `_sum` or `_count`, and no family has the label "le" or "quantile";
//  - help is not empty; histogram buckets are finite, strictly increasing, at least one;
//  - max_children >= 1.
// The Registry crashes with this message; exposed for tests and tools.
[[nodiscard]] Status ValidateDefinition(const FamilyDefinition& definition);

}  // namespace krond::metrics
