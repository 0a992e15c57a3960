#include "control/pause_table.h"

#include "messages/catalog.h"

namespace krond::control {

bool PartitionOrder::Advance(const kafka::ConsumedMessage& record) {
  auto [last, fresh] = last_.try_emplace({record.topic, record.partition}, record.offset);
  if (fresh) return true;
  if (record.offset <= last->second) return false;
  last->second = record.offset;
  return true;
}

Status PauseTable::Apply(const kafka::ConsumedMessage& record) {
  if (!order_.Advance(record)) return {};
  if (record.value.empty()) {
    paused_.erase(record.key);
    return {};
  }
  auto control = messages::DecodeControlRecord(record.value);
  if (!control)
    return MakeError("control record for \"" + record.key + "\": " + control.error().message);
  if (control->paused) {
    paused_[control->job] = control->by;
  } else {
    paused_.erase(control->job);
  }
  return {};
}

bool PauseTable::Paused(std::string_view job) const {
  return !paused_.empty() && paused_.count(std::string(job)) != 0;
}

}  // namespace krond::control
