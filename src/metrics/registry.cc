#include "metrics/registry.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <set>
#include <type_traits>

#include "metrics/fail.h"
#include "metrics/text_format.h"

namespace krond::metrics {

namespace internal {

void Fail(std::string_view message) {
  std::fprintf(stderr, "krond: metrics: %.*s\n", static_cast<int>(message.size()), message.data());
  std::fflush(stderr);
  std::abort();
}

}  // namespace internal

namespace {

std::string Describe(const FamilyDefinition& d, bool is_callback) {
  std::string text;
  switch (d.type) {
    case MetricType::kCounter:
      text = "counter";
      break;
    case MetricType::kGauge:
      text = is_callback ? "callback gauge" : "gauge";
      break;
    case MetricType::kHistogram:
      text = "histogram";
      break;
  }
  text += " {";
  for (std::size_t i = 0; i < d.label_names.size(); ++i) {
    if (i > 0) text += ',';
    text += d.label_names[i];
  }
  text += "}";
  if (!d.buckets.empty()) {
    text += " buckets [";
    for (std::size_t i = 0; i < d.buckets.size(); ++i) {
      if (i > 0) text += ',';
      AppendValue(text, d.buckets[i]);
    }
    text += ']';
  }
  text += " max_children " + std::to_string(d.options.max_children);
  text += " help \"" + d.help + "\"";
  return text;
}

Status Invalid(const FamilyDefinition& d, const std::string& why) {
  return MakeError("metric \"" + d.name + "\": " + why);
}

}  // namespace

Status ValidateDefinition(const FamilyDefinition& d) {
  if (!IsValidMetricName(d.name)) {
    return Invalid(d,
                   "name must match [a-zA-Z_][a-zA-Z0-9_]* (no ':', which is reserved for "
                   "recording rules)");
  }
  if (d.help.empty()) return Invalid(d, "help text is required");
  const bool counter = d.type == MetricType::kCounter;
  const bool histogram = d.type == MetricType::kHistogram;
  if (counter && !d.name.ends_with("_total")) {
    return Invalid(d, "counter names end in _total");
  }
  if (!counter && d.name.ends_with("_total")) {
    return Invalid(d, "only counter names end in _total");
  }
  if (!histogram) {
    for (std::string_view suffix : {"_bucket", "_sum", "_count"}) {
      if (d.name.ends_with(suffix)) {
        return Invalid(
            d, "the suffix " + std::string(suffix) + " is reserved for the series of histograms");
      }
    }
    if (!d.buckets.empty()) return Invalid(d, "only histograms have buckets");
  }
  std::set<std::string_view> seen;
  for (const auto& label : d.label_names) {
    if (!IsValidLabelName(label)) {
      return Invalid(d, "label name \"" + label +
                            "\" must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __");
    }
    if (label == "le" || label == "quantile") {
      return Invalid(d, "label name \"" + label + "\" is reserved for histograms and summaries");
    }
    if (!seen.insert(label).second) return Invalid(d, "label \"" + label + "\" appears twice");
  }
  if (histogram) {
    if (d.buckets.empty()) return Invalid(d, "a histogram needs at least one bucket");
    for (std::size_t i = 0; i < d.buckets.size(); ++i) {
      if (!std::isfinite(d.buckets[i])) {
        return Invalid(d, "bucket bounds are finite (+Inf is implicit)");
      }
      if (i > 0 && !(d.buckets[i] > d.buckets[i - 1])) {
        return Invalid(d, "bucket bounds must be strictly increasing");
      }
    }
  }
  if (d.options.max_children < 1) return Invalid(d, "max_children must be >= 1");
  return {};
}

Registry::Registry() {
  FamilyDefinition overflow{
      .name = std::string(kLabelOverflowMetric),
      .help =
          "Lookups of a new label set that a metric family refused because it had reached "
          "its maximum number of children; their data went to its __overflow__ series.",
      .type = MetricType::kCounter,
      .label_names = {"family"},
      .buckets = {},
      // Bounded by the number of families, which is fixed by the code.
      .options = {.max_children = std::numeric_limits<std::size_t>::max()},
  };
  overflow_family_ = &Add<Family<Counter>>(std::move(overflow), nullptr);
}

Registry::~Registry() = default;

template <class F, class... Args>
F& Registry::Add(FamilyDefinition definition, Args&&... args) {
  if (Status valid = ValidateDefinition(definition); !valid) {
    internal::Fail(valid.error().message);
  }
  constexpr bool kIsCallback = std::is_same_v<F, CallbackGauge>;
  std::lock_guard lock(mu_);
  if (auto it = families_.find(definition.name); it != families_.end()) {
    auto* existing = dynamic_cast<F*>(it->second.get());
    if (!kIsCallback && existing != nullptr && existing->Definition() == definition) {
      return *existing;
    }
    const bool existing_is_callback = dynamic_cast<CallbackGauge*>(it->second.get()) != nullptr;
    internal::Fail("metric \"" + definition.name + "\" registered twice: first as " +
                   Describe(it->second->Definition(), existing_is_callback) + ", then as " +
                   Describe(definition, kIsCallback) +
                   (kIsCallback ? " (a callback gauge can be registered once)" : ""));
  }
  // The constructors are private to the Registry, hence no make_unique.
  std::unique_ptr<F> family(new F(std::move(definition), std::forward<Args>(args)...));
  F& ref = *family;
  families_.emplace(ref.Name(), std::move(family));
  return ref;
}

Family<Counter>& Registry::AddCounter(std::string name, std::string help,
                                      std::vector<std::string> label_names, FamilyOptions options) {
  return Add<Family<Counter>>(FamilyDefinition{.name = std::move(name),
                                               .help = std::move(help),
                                               .type = MetricType::kCounter,
                                               .label_names = std::move(label_names),
                                               .buckets = {},
                                               .options = options},
                              overflow_family_);
}

Family<Gauge>& Registry::AddGauge(std::string name, std::string help,
                                  std::vector<std::string> label_names, FamilyOptions options) {
  return Add<Family<Gauge>>(FamilyDefinition{.name = std::move(name),
                                             .help = std::move(help),
                                             .type = MetricType::kGauge,
                                             .label_names = std::move(label_names),
                                             .buckets = {},
                                             .options = options},
                            overflow_family_);
}

Family<Histogram>& Registry::AddHistogram(std::string name, std::string help,
                                          std::vector<std::string> label_names,
                                          std::vector<double> buckets, FamilyOptions options) {
  return Add<Family<Histogram>>(FamilyDefinition{.name = std::move(name),
                                                 .help = std::move(help),
                                                 .type = MetricType::kHistogram,
                                                 .label_names = std::move(label_names),
                                                 .buckets = std::move(buckets),
                                                 .options = options},
                                overflow_family_);
}

CallbackGauge& Registry::AddCallbackGauge(std::string name, std::string help,
                                          std::function<double()> callback) {
  return Add<CallbackGauge>(FamilyDefinition{.name = std::move(name),
                                             .help = std::move(help),
                                             .type = MetricType::kGauge,
                                             .label_names = {},
                                             .buckets = {},
                                             .options = {}},
                            std::move(callback));
}

void Registry::AddBuildInfo(const std::vector<std::pair<std::string, std::string>>& labels) {
  {
    std::lock_guard lock(mu_);
    if (families_.contains(kBuildInfoMetric)) {
      internal::Fail("AddBuildInfo called twice: one krond_build_info series per process");
    }
  }
  std::vector<std::string> names;
  std::vector<std::string_view> values;
  for (const auto& [name, value] : labels) {
    names.push_back(name);
    values.push_back(value);
  }
  AddGauge(std::string(kBuildInfoMetric),
           "Build of the running krond, in its labels; the value is always 1.", std::move(names),
           {.max_children = 1})
      .WithLabels(values)
      .Set(1);
}

std::string Registry::Render() const {
  std::vector<const FamilyBase*> families;
  {
    std::lock_guard lock(mu_);
    families.reserve(families_.size());
    for (const auto& [name, family] : families_) families.push_back(family.get());
  }
  // Families are never removed, so the pointers outlive the lock; rendering without it lets
  // callbacks register metrics and keeps registration from waiting on a slow scrape.
  std::string out;
  for (const FamilyBase* family : families) family->Render(out);
  return out;
}

}  // namespace krond::metrics
