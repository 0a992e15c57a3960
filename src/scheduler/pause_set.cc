#include "scheduler/pause_set.h"

#include <spdlog/spdlog.h>

namespace krond::scheduler {

std::vector<DueRun> PauseSet::TakePaused(std::vector<DueRun>& runs,
                                         const std::vector<config::Job>& jobs) const {
  std::vector<DueRun> skipped;
  if (paused_count() == 0) return skipped;
  std::erase_if(runs, [&](const DueRun& run) {
    if (!Paused(jobs[run.job].name)) return false;
    skipped.push_back(run);
    return true;
  });
  return skipped;
}

ControlFeed::ControlFeed(kafka::Consumer& consumer, PauseSet& pauses, SchedulerMetrics& metrics,
                         std::string topic)
    : consumer_(consumer), pauses_(pauses), metrics_(metrics), topic_(std::move(topic)) {}

Status ControlFeed::Start() { return consumer_.Subscribe({topic_}); }

size_t ControlFeed::Poll(std::chrono::milliseconds timeout) {
  size_t applied = 0;
  for (;;) {
    auto polled = consumer_.Poll(applied == 0 ? timeout : std::chrono::milliseconds(0));
    if (!polled) {
      metrics_.kafka_errors.Inc();
      spdlog::warn("control topic {}: {}", topic_, polled.error().message);
      return applied;
    }
    if (!*polled) return applied;
    const bool was_paused = pauses_.Paused((*polled)->key);
    if (auto ok = pauses_.Apply(**polled); !ok) {
      spdlog::error("{}; ignored", ok.error().message);
      continue;
    }
    ++applied;
    const bool paused = pauses_.Paused((*polled)->key);
    if (paused != was_paused) {
      spdlog::info("job {} {}", (*polled)->key,
                   paused ? "paused: its fires are skipped" : "resumed: it fires again");
    }
  }
}

}  // namespace krond::scheduler
