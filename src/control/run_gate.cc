#include "control/run_gate.h"

namespace krond::control {

RunGate::RunGate(std::string control_topic, std::string catalog_topic)
    : control_topic_(std::move(control_topic)), catalog_topic_(std::move(catalog_topic)) {}

Status RunGate::Apply(const kafka::ConsumedMessage& record) {
  std::lock_guard lock(mu_);
  if (record.topic == control_topic_) return pauses_.Apply(record);
  if (record.topic != catalog_topic_) {
    return MakeError("run gate: record of topic " + record.topic + ", which it does not follow");
  }
  if (!catalog_order_.Advance(record)) return {};
  if (record.value.empty()) {
    removed_.insert(record.key);
  } else {
    removed_.erase(record.key);
  }
  return {};
}

std::optional<std::string> RunGate::CancelReason(std::string_view job) const {
  std::lock_guard lock(mu_);
  if (!removed_.empty() && removed_.count(std::string(job)) != 0) {
    return std::string(kCancelRemoved);
  }
  if (pauses_.Paused(job)) return std::string(kCancelPaused);
  return std::nullopt;
}

}  // namespace krond::control
