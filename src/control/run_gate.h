#pragma once

#include <atomic>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "common/result.h"
#include "control/pause_table.h"
#include "kafka/kafka.h"

namespace krond::control {

// The reasons CancelReason gives, also the `reason` label of krond_runs_cancelled_total.
inline constexpr std::string_view kCancelPaused = "paused";
inline constexpr std::string_view kCancelRemoved = "removed";

// Whether a run that a worker holds until its instant (a run dispatched ahead of it, issue 20)
// may still start: the worker asks at the start instant (docs/control.md, "Held runs"). Fed,
// by a ControlFollower, the records of the control topic (pause and resume) and of the job
// catalog (a tombstone: the job was removed from the job file).
//
// - "paused": the job's latest control record pauses it.
// - "removed": the job's latest catalog record is a tombstone. A job added again after its
//   removal is not removed (its latest record is a definition again). A job never seen in the
//   catalog is NOT removed: a new job's first run may arrive before its catalog record, which
//   the scheduler publishes apart from its fires and paced.
// - Records at or before one already applied from their partition are ignored (the topics
//   are read again from their start), as in PauseTable.
//
// The gate knows only what it has read, so it is not ready() until its follower has read both
// topics to the end they had when it started (MarkReady; a few seconds after the worker
// starts): the worker holds a due run while the gate is not ready rather than start a run of
// a job paused or removed in what is still unread (docs/control.md, "Held runs"). Catalog
// values are not decoded (only key and tombstone matter), so a worker's start does not parse
// every job's definition.
//
// Thread-safe: the follower's thread applies records while the worker's threads ask.
class RunGate {
 public:
  RunGate(std::string control_topic, std::string catalog_topic);

  // The topics to follow: the control topic, then the catalog.
  std::vector<std::string> topics() const { return {control_topic_, catalog_topic_}; }

  // Applies one record of the control or catalog topic. Errors for an undecodable control
  // record or a record of another topic, which change nothing (the caller logs them).
  [[nodiscard]] Status Apply(const kafka::ConsumedMessage& record);

  // Why a run of `job` must not start now: kCancelRemoved, else kCancelPaused; nullopt when it
  // may start.
  std::optional<std::string> CancelReason(std::string_view job) const;

  // Whether CancelReason can be trusted: both topics were read to their end once. Stays true.
  bool ready() const { return ready_.load(std::memory_order_acquire); }
  // Called by the follower once it has read both topics to their end.
  void MarkReady() { ready_.store(true, std::memory_order_release); }

 private:
  const std::string control_topic_;
  const std::string catalog_topic_;
  mutable std::mutex mu_;
  // Guarded by mu_: the pauses, the jobs whose latest catalog record is a tombstone, and the
  // catalog records' order.
  PauseTable pauses_;
  std::unordered_set<std::string> removed_;
  PartitionOrder catalog_order_;
  std::atomic<bool> ready_{false};
};

}  // namespace krond::control
