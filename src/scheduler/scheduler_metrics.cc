#include "scheduler/scheduler_metrics.h"

namespace krond::scheduler {

SchedulerMetrics::SchedulerMetrics(metrics::Registry& r)
    : runs_fired(r.AddCounter("krond_scheduler_runs_fired_total",
                              "Runs whose task message the broker acknowledged.",
                              {"job", "cluster"})),
      fire_lag(r.AddHistogram("krond_scheduler_fire_lag_seconds",
                              "Broker acknowledgement time of each run minus when it was due for "
                              "dispatch (its scheduled time minus its dispatch-ahead).",
                              {"cluster"}, metrics::DefaultLatencyBuckets())),
      produce_errors(r.AddCounter("krond_scheduler_produce_errors_total",
                                  "Task messages that failed to produce; each is retried.")
                         .Get()),
      kafka_errors(r.AddCounter("krond_scheduler_kafka_errors_total",
                                "Kafka client errors seen by the scheduler (e.g. broker down).")
                       .Get()),
      jobs_loaded(r.AddGauge("krond_scheduler_jobs", "Jobs loaded from the job file.").Get()),
      reloads(r.AddCounter("krond_scheduler_config_reloads_total",
                           "Job file reloads, by result (ok or failed).", {"result"})),
      next_fire(r.AddGauge("krond_scheduler_next_fire_timestamp_seconds",
                           "Unix time at which the next run is due for dispatch (0: no jobs).")
                    .Get()),
      runs_pending(r.AddGauge("krond_scheduler_runs_pending",
                              "Runs produced and not yet acknowledged by the broker.")
                       .Get()),
      active(r.AddGauge("krond_scheduler_active", "1 while this replica fires runs.").Get()),
      leadership_changes(
          r.AddCounter("krond_scheduler_leadership_changes_total",
                       "Times this replica became the active scheduler or stopped being it.")
              .Get()),
      takeover_seconds(r.AddGauge("krond_scheduler_takeover_seconds",
                                  "Duration of the last takeover: fencing, state restore, "
                                  "catch-up planning.")
                           .Get()),
      catch_up(r.AddCounter("krond_scheduler_catch_up_runs_total",
                            "Fires missed while no scheduler was active, by what catch-up did "
                            "(fired, skipped by catch_up, dropped by starting_deadline).",
                            {"result"})),
      fires_skipped(r.AddCounter("krond_scheduler_fires_skipped_total",
                                 "Scheduled instants not fired, by job and reason (catch_up, "
                                 "starting_deadline, catch_up_limit, paused).",
                                 {"job", "reason"})),
      fires_rejected(r.AddCounter("krond_scheduler_fires_rejected_total",
                                  "Fires the broker can never accept (too_large, unauthorized, "
                                  "unknown_topic, invalid), left out so the others fire.",
                                  {"reason"})),
      lease_age(r.AddGauge("krond_scheduler_lease_age_seconds",
                           "Seconds since the lease was renewed: the last commit of the active "
                           "scheduler, or the last heartbeat a standby saw.")
                    .Get()),
      txn_aborts(r.AddCounter("krond_scheduler_transaction_aborts_total",
                              "Fire transactions aborted; their runs are sent again.")
                     .Get()),
      fenced(r.AddCounter("krond_scheduler_fenced_total",
                          "Times this replica was fenced by a newer active scheduler.")
                 .Get()) {
  reloads.WithLabels({"ok"});
  reloads.WithLabels({"failed"});
  for (const char* result : {"fired", "skipped", "dropped"}) catch_up.WithLabels({result});
  for (const char* reason : {"too_large", "unauthorized", "unknown_topic", "invalid"}) {
    fires_rejected.WithLabels({reason});
  }
}

}  // namespace krond::scheduler
