#include "control/control_follower.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace krond::control {

ControlFollower::ControlFollower(kafka::Consumer& consumer, RunGate& gate, ErrorHook on_error)
    : consumer_(consumer), gate_(gate), on_error_(std::move(on_error)) {}

Status ControlFollower::Start() { return consumer_.Subscribe(gate_.topics()); }

size_t ControlFollower::Poll(std::chrono::milliseconds timeout) {
  size_t applied = 0;
  for (size_t read = 0; read < kMaxBatch; ++read) {
    auto polled = consumer_.Poll(applied == 0 ? timeout : std::chrono::milliseconds(0));
    if (!polled) {
      if (on_error_) on_error_();
      // A broker down or a missing ACL fails every poll: one line per distinct error.
      if (polled.error().message != last_error_) {
        last_error_ = polled.error().message;
        spdlog::warn("run gate: cannot follow the control and catalog topics: {}", last_error_);
      }
      break;
    }
    last_error_.clear();
    if (!*polled) break;
    if (auto ok = gate_.Apply(**polled); !ok) {
      spdlog::error("run gate: {}; ignored", ok.error().message);
      continue;
    }
    ++applied;
  }
  if (!gate_.ready() && CaughtUp()) {
    gate_.MarkReady();
    spdlog::info("run gate ready: the control and catalog topics are read to their end");
  }
  return applied;
}

bool ControlFollower::CaughtUp() {
  if (!consumer_.AtEnd()) return false;
  const std::vector<kafka::TopicPartition> assigned = consumer_.Assignment();
  for (const std::string& topic : gate_.topics()) {
    // A topic with no partition assigned yet is not read at all.
    if (std::none_of(assigned.begin(), assigned.end(),
                     [&](const kafka::TopicPartition& tp) { return tp.topic == topic; })) {
      return false;
    }
  }
  return true;
}

void ControlFollower::Run(std::stop_token stop, std::chrono::milliseconds poll_timeout) {
  while (!stop.stop_requested()) Poll(poll_timeout);
  consumer_.Close();
}

}  // namespace krond::control
