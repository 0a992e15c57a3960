#include "metrics/family.h"

#include <string>
#include <type_traits>

#include "metrics/fail.h"
#include "metrics/text_format.h"

namespace krond::metrics {
namespace {

std::string_view TypeName(MetricType type) {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
  }
  return "untyped";
}

// Appends `{a="x",b="y"}`, with `le` last when given; nothing when there are no labels.
void AppendLabels(std::string& out, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, std::string_view le = {}) {
  if (names.empty() && le.empty()) return;
  out += '{';
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += ',';
    out += names[i];
    out += "=\"";
    AppendEscapedLabelValue(out, values[i]);
    out += '"';
  }
  if (!le.empty()) {
    if (!names.empty()) out += ',';
    out += "le=\"";
    out += le;
    out += '"';
  }
  out += '}';
}

std::string JoinNames(const std::vector<std::string>& names) {
  std::string joined;
  for (const auto& name : names) {
    if (!joined.empty()) joined += ", ";
    joined += name;
  }
  return joined;
}

}  // namespace

void FamilyBase::RenderHeader(std::string& out) const {
  out += "# HELP ";
  out += definition_.name;
  out += ' ';
  AppendEscapedHelp(out, definition_.help);
  out += "\n# TYPE ";
  out += definition_.name;
  out += ' ';
  out += TypeName(definition_.type);
  out += '\n';
}

template <class T>
Family<T>::Family(FamilyDefinition definition, Family<Counter>* overflow)
    : FamilyBase(std::move(definition)), overflow_family_(overflow) {
  for (double bound : Definition().buckets) le_values_.push_back(FormatValue(bound));
  // A label-less family has exactly one child; creating it now exports 0 from the start,
  // so rate() and absent() work before the first event.
  if (Definition().label_names.empty()) children_.emplace(std::vector<std::string>{}, MakeChild());
}

template <class T>
std::unique_ptr<T> Family<T>::MakeChild() const {
  if constexpr (std::is_same_v<T, Histogram>) {
    return std::make_unique<Histogram>(Definition().buckets);
  } else {
    return std::make_unique<T>();
  }
}

template <class T>
T& Family<T>::WithLabels(std::span<const std::string_view> values) {
  const auto& names = Definition().label_names;
  if (values.size() != names.size()) {
    internal::Fail("metric " + Name() + " has " + std::to_string(names.size()) + " label(s) (" +
                   JoinNames(names) + ") but WithLabels got " + std::to_string(values.size()) +
                   " value(s)");
  }
  std::vector<std::string> key;
  key.reserve(values.size());
  for (std::string_view value : values) key.push_back(SanitizeUtf8(value));

  std::lock_guard lock(mu_);
  if (auto it = children_.find(key); it != children_.end()) return *it->second;
  if (children_.size() < Definition().options.max_children) {
    return *children_.emplace(std::move(key), MakeChild()).first->second;
  }
  if (overflow_child_ == nullptr) overflow_child_ = MakeChild();
  if (overflow_family_ != nullptr) {
    if (overflow_counter_ == nullptr) overflow_counter_ = &overflow_family_->WithLabels({Name()});
    overflow_counter_->Inc();
  }
  return *overflow_child_;
}

template <class T>
T& Family<T>::Get() {
  if (!Definition().label_names.empty()) {
    internal::Fail("metric " + Name() + " has labels (" + JoinNames(Definition().label_names) +
                   "): use WithLabels, not Get");
  }
  std::lock_guard lock(mu_);
  return *children_.begin()->second;
}

template <class T>
std::size_t Family<T>::ChildCount() const {
  std::lock_guard lock(mu_);
  return children_.size();
}

template <class T>
void Family<T>::RenderChild(std::string& out, const std::vector<std::string>& values,
                            const T& child) const {
  const auto& names = Definition().label_names;
  if constexpr (std::is_same_v<T, Histogram>) {
    const Histogram::Snapshot snapshot = child.Collect();
    for (std::size_t i = 0; i < snapshot.cumulative.size(); ++i) {
      out += Name();
      out += "_bucket";
      AppendLabels(out, names, values, i < le_values_.size() ? le_values_[i] : "+Inf");
      out += ' ';
      AppendValue(out, static_cast<double>(snapshot.cumulative[i]));
      out += '\n';
    }
    out += Name();
    out += "_sum";
    AppendLabels(out, names, values);
    out += ' ';
    AppendValue(out, snapshot.sum);
    out += '\n';
    out += Name();
    out += "_count";
    AppendLabels(out, names, values);
    out += ' ';
    AppendValue(out, static_cast<double>(snapshot.count));
    out += '\n';
  } else {
    out += Name();
    AppendLabels(out, names, values);
    out += ' ';
    AppendValue(out, child.Value());
    out += '\n';
  }
}

template <class T>
void Family<T>::Render(std::string& out) const {
  std::lock_guard lock(mu_);
  if (children_.empty() && overflow_child_ == nullptr) return;
  RenderHeader(out);
  for (const auto& [values, child] : children_) RenderChild(out, values, *child);
  if (overflow_child_ != nullptr) {
    const std::vector<std::string> values(Definition().label_names.size(),
                                          std::string(kOverflowLabelValue));
    RenderChild(out, values, *overflow_child_);
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

CallbackGauge::CallbackGauge(FamilyDefinition definition, std::function<double()> callback)
    : FamilyBase(std::move(definition)), callback_(std::move(callback)) {}

void CallbackGauge::Set(std::function<double()> callback) {
  std::lock_guard lock(mu_);
  callback_ = std::move(callback);
}

void CallbackGauge::Render(std::string& out) const {
  std::lock_guard lock(mu_);
  if (!callback_) return;
  const double value = callback_();
  RenderHeader(out);
  out += Name();
  out += ' ';
  AppendValue(out, value);
  out += '\n';
}

}  // namespace krond::metrics
