#pragma once

#include "metrics/registry.h"

namespace krond::scheduler {

// Every metric the scheduler exports (docs/metrics.md), declared once.
struct SchedulerMetrics {
  explicit SchedulerMetrics(metrics::Registry& r);

  // Runs whose task message the broker acknowledged.
  metrics::Family<metrics::Counter>& runs_fired;  // {job, cluster}
  // Acknowledged-at minus when the run was due for dispatch (scheduled_at minus its
  // dispatch-ahead): how late the scheduler is. Against scheduled_at, a run dispatched ahead
  // would have a negative lag.
  metrics::Family<metrics::Histogram>& fire_lag;  // {cluster}
  // Produce calls or deliveries that failed (the run is kept and sent again).
  metrics::Counter& produce_errors;
  // Client-level Kafka errors (broker down, ...).
  metrics::Counter& kafka_errors;
  metrics::Gauge& jobs_loaded;
  metrics::Family<metrics::Counter>& reloads;  // {result="ok"|"failed"}
  // Unix time at which the next run is due for dispatch (scheduled_at minus its
  // dispatch-ahead); 0 with no jobs.
  metrics::Gauge& next_fire;
  // Runs produced but not yet acknowledged, or waiting to be produced again.
  metrics::Gauge& runs_pending;
  // 1 while this replica is the one that fires.
  metrics::Gauge& active;
  // HA (docs/architecture.md): times this replica became active or stopped being active.
  metrics::Counter& leadership_changes;
  // How long the last takeover took (fencing, state restore, catch-up planning).
  metrics::Gauge& takeover_seconds;
  // Fires missed while no scheduler was active, by what catch-up did with them
  // {result="fired"|"skipped"|"dropped"}.
  metrics::Family<metrics::Counter>& catch_up;
  // Scheduled instants not fired, by job and why {job, reason="catch_up"|
  // "starting_deadline"|"catch_up_limit"|"paused"} (at most 1,000 jobs, then
  // __overflow__; paused: docs/control.md).
  metrics::Family<metrics::Counter>& fires_skipped;
  // Fires the broker can never accept, taken out of their transaction so the others fire
  // {reason="too_large"|"unauthorized"|"unknown_topic"|"invalid"}.
  metrics::Family<metrics::Counter>& fires_rejected;
  // Seconds since the lease was last renewed: on the active scheduler since its last commit,
  // on a standby since it last saw a heartbeat.
  metrics::Gauge& lease_age;
  // Fire transactions aborted (each batch is sent again) and fences (another replica won).
  metrics::Counter& txn_aborts;
  metrics::Counter& fenced;
};

}  // namespace krond::scheduler
