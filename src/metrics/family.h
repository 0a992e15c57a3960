#pragma once

#include <cstddef>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "metrics/metric.h"

namespace krond::metrics {

enum class MetricType { kCounter, kGauge, kHistogram };

// Label values that every label of the overflow child carries.
inline constexpr std::string_view kOverflowLabelValue = "__overflow__";

struct FamilyOptions {
  // Most distinct label value sets the family creates. Past it, every new set maps to one
  // shared overflow child whose label values are all "__overflow__", and
  // krond_metrics_label_overflow_total{family="<name>"} counts the refused lookups.
  // Why: each child is a time series that Prometheus stores forever, so an unbounded label
  // (a run id, a command line) would grow memory here and in Prometheus without limit. Put
  // such values in logs and messages, never in labels. Default: 1000. Requires: >= 1.
  std::size_t max_children = 1000;

  bool operator==(const FamilyOptions&) const = default;
};

// Everything that identifies a family. Registering the same name twice must repeat the same
// definition (then the existing family is returned), otherwise the process crashes.
struct FamilyDefinition {
  std::string name;
  std::string help;
  MetricType type = MetricType::kCounter;
  std::vector<std::string> label_names;
  std::vector<double> buckets;  // Histograms only.
  FamilyOptions options;

  bool operator==(const FamilyDefinition&) const = default;
};

// A named metric with fixed label names. Owned by a Registry, never destroyed before it.
class FamilyBase {
 public:
  virtual ~FamilyBase() = default;
  FamilyBase(const FamilyBase&) = delete;
  FamilyBase& operator=(const FamilyBase&) = delete;

  const FamilyDefinition& Definition() const { return definition_; }
  const std::string& Name() const { return definition_.name; }

  // Appends this family in the text exposition format 0.0.4: HELP, TYPE and one sample (or
  // one histogram group) per child, children sorted by label values and the overflow child
  // last. Appends nothing for a family without children. Thread-safe.
  virtual void Render(std::string& out) const = 0;

 protected:
  explicit FamilyBase(FamilyDefinition definition) : definition_(std::move(definition)) {}

  // Appends "# HELP" and "# TYPE" lines.
  void RenderHeader(std::string& out) const;

 private:
  const FamilyDefinition definition_;
};

// A family of Counter, Gauge or Histogram children, one per label value set.
//
// Thread safety: all methods are thread-safe. WithLabels takes the family's mutex (and
// allocates on first use of a label set), so look children up once, keep the reference and
// use it on the hot path: references stay valid for the Registry's lifetime.
template <class T>
class Family final : public FamilyBase {
 public:
  // The child for `values`, one per label name in declaration order, e.g.
  // `runs.WithLabels({"cluster-a", "succeeded"})`. Creates it (at zero) on first use. A wrong
  // number of values is a programming error and crashes. Values that are not valid UTF-8 have
  // the bad bytes replaced by U+FFFD, since one bad byte would make Prometheus reject the
  // whole scrape. Past FamilyOptions::max_children new sets get the overflow child.
  T& WithLabels(std::initializer_list<std::string_view> values) {
    return WithLabels(std::span<const std::string_view>(values.begin(), values.size()));
  }
  T& WithLabels(std::span<const std::string_view> values);

  // The only child of a family declared without labels (created at registration, so it is
  // exported as 0 before its first use). Crashes if the family has labels.
  T& Get();

  // Children created so far, excluding the overflow child.
  std::size_t ChildCount() const;

  void Render(std::string& out) const override;

 private:
  friend class Registry;
  // `overflow` counts refused label sets by family name; null only for that counter itself.
  Family(FamilyDefinition definition, Family<Counter>* overflow);

  std::unique_ptr<T> MakeChild() const;
  void RenderChild(std::string& out, const std::vector<std::string>& values, const T& child) const;

  Family<Counter>* const overflow_family_;
  // Histograms only: the formatted `le` value of each bound, computed once.
  std::vector<std::string> le_values_;
  mutable std::mutex mu_;
  // Sorted by label values: the render order. Guarded by mu_.
  std::map<std::vector<std::string>, std::unique_ptr<T>> children_;
  // Guarded by mu_; created on the first refused label set.
  std::unique_ptr<T> overflow_child_;
  Counter* overflow_counter_ = nullptr;
};

extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;

// A gauge without labels whose value is computed at render time, e.g. runs in flight or the
// next fire time. The callback runs on the rendering thread (the admin server's) and must
// be thread-safe; it may use the Registry, but not Set or Clear its own gauge (deadlock).
class CallbackGauge final : public FamilyBase {
 public:
  // Swaps the callback. Use Clear() before whatever the callback reads is destroyed: after
  // Clear() returns the old callback is not running and never runs again, and the family
  // renders nothing until Set() is called.
  void Set(std::function<double()> callback);
  void Clear() { Set(nullptr); }

  void Render(std::string& out) const override;

 private:
  friend class Registry;
  CallbackGauge(FamilyDefinition definition, std::function<double()> callback);

  // Held while the callback runs, so Clear() waits for a render in progress.
  mutable std::mutex mu_;
  std::function<double()> callback_;  // Guarded by mu_.
};

}  // namespace krond::metrics
