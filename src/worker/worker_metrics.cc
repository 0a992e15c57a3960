#include "worker/worker_metrics.h"

namespace krond::worker {

WorkerMetrics::WorkerMetrics(metrics::Registry& r)
    : runs_started(r.AddCounter("krond_worker_runs_started_total",
                                "Runs a worker started executing.", {"cluster", "queue"})),
      runs_finished(r.AddCounter("krond_worker_runs_finished_total",
                                 "Run attempts finished, by outcome.",
                                 {"cluster", "queue", "outcome"})),
      runtime(r.AddHistogram("krond_job_runtime_seconds", "Wall time of each run attempt.",
                             {"queue"}, metrics::DefaultLatencyBuckets())),
      start_delay(r.AddHistogram(
          "krond_worker_run_start_delay_seconds",
          "Command start minus scheduled time (retries: minus not_before): how late runs start.",
          {"cluster", "queue"}, metrics::DefaultLatencyBuckets())),
      in_flight(r.AddGauge("krond_worker_runs_in_flight", "Runs executing now.").Get()),
      early_runs(r.AddGauge("krond_worker_early_runs",
                            "Runs held until their scheduled_at (dispatched ahead of it).")
                     .Get()),
      runs_cancelled(r.AddCounter("krond_worker_runs_cancelled_total",
                                  "Runs held ahead of their instant whose job was paused or "
                                  "removed before it: skipped, never run.",
                                  {"cluster", "reason"})),
      gate_waits(r.AddCounter("krond_worker_gate_waits_total",
                              "Held runs whose instant came before the worker had read the "
                              "control and catalog topics, by how their wait ended: ready "
                              "(then checked as usual) or timed_out (--control-wait: skipped, "
                              "never run).",
                              {"cluster", "result"})),
      early_capped(r.AddCounter("krond_worker_early_capped_total",
                                "Runs that arrived further ahead of their scheduled_at than "
                                "--max-hold-ahead, started that long after they arrived.")
                       .Get()),
      slots(r.AddGauge("krond_worker_slots", "Runs this worker may execute at once.").Get()),
      runs_missed_deadline(r.AddCounter(
          "krond_worker_runs_missed_deadline_total",
          "First attempts skipped because they could not start within their starting_deadline.",
          {"cluster"})),
      retries_published(r.AddCounter("krond_worker_retries_published_total",
                                     "Failed runs sent to the retry topic.", {"cluster"})),
      dead_letters_published(r.AddCounter("krond_worker_dead_letters_published_total",
                                          "Runs sent to the dead-letter topic.",
                                          {"cluster", "reason"})),
      invalid_messages(r.AddCounter("krond_worker_invalid_messages_total",
                                    "Task messages that could not be decoded.")
                           .Get()),
      tasks_refused(r.AddCounter("krond_worker_tasks_refused_total",
                                 "Task messages refused for their signature (--task-public-keys): "
                                 "unsigned, untrusted_key, bad_signature. Never run.",
                                 {"cluster", "reason"})),
      runs_refused(r.AddCounter("krond_worker_runs_refused_total",
                                "Runs refused before they started, by policy: root (would run "
                                "as root; --run-as, --allow-root), unknown_user (the user: "
                                "does not exist on this worker). Never run.",
                                {"cluster", "reason"})),
      kafka_errors(
          r.AddCounter("krond_worker_consumer_errors_total",
                       "Errors reported by the worker's Kafka clients: its consumers and its "
                       "producer (e.g. broker down).")
              .Get()),
      publish_errors(r.AddCounter("krond_worker_publish_errors_total",
                                  "Result, retry or dead-letter messages that failed to publish "
                                  "with a retriable error (each is retried).")
                         .Get()),
      publish_refused(r.AddCounter(
          "krond_worker_publish_refused_total",
          "Result, retry or dead-letter records Kafka refused for good (too large, not "
          "authorized, unknown topic, invalid): each was replaced by a smaller record or dropped.",
          {"record", "reason"})),
      records_dropped(r.AddCounter("krond_worker_records_dropped_total",
                                   "Records given up after Kafka refused them, with nothing "
                                   "published in their place.",
                                   {"record"})),
      records_unflushed(r.AddCounter("krond_worker_records_unflushed_total",
                                     "Records still unacknowledged by Kafka when the worker "
                                     "stopped; their runs stay uncommitted and run again.")
                            .Get()),
      commit_errors(r.AddCounter("krond_worker_commit_errors_total",
                                 "Offset commits that failed (the runs may be redelivered).")
                        .Get()),
      runs_redelivered(r.AddCounter(
          "krond_worker_runs_redelivered_total",
          "Runs redelivered after their partition changed owner, by what the previous owner "
          "had done: started (run again, exempt from starting_deadline) or finished (not run "
          "again).",
          {"cluster", "queue", "state"})),
      runs_handed_over(r.AddCounter(
          "krond_worker_runs_handed_over_total",
          "Runs cancelled and left uncommitted for another worker, by why: shutdown (drain "
          "timeout), revoked (rebalance drain timeout), lost (session expired).",
          {"cluster", "queue", "reason"})),
      commit_metadata_errors(r.AddCounter(
          "krond_worker_commit_metadata_errors_total",
          "Commit metadata about started and finished runs that could not be read (read, "
          "decode) or did not fit (truncated).",
          {"reason"})),
      last_poll(r.AddGauge("krond_worker_last_poll_timestamp_seconds",
                           "Unix time of the worker's last Kafka poll.")
                    .Get()),
      overloaded(r.AddGauge("krond_worker_overloaded",
                            "1 while the worker takes no new runs because the host's load per "
                            "CPU is above --max-load.")
                     .Get()),
      committed_offset(r.AddGauge("krond_worker_committed_offset",
                                  "Offset last committed per partition (the next offset to read).",
                                  {"topic", "partition"})),
      microvm_accelerator(r.AddGauge("krond_worker_microvm_accelerator",
                                     "1 for the accelerator of this worker's microVMs: kvm, or "
                                     "tcg (emulation) when KVM does not work here.",
                                     {"accelerator"})),
      microvm_boot(r.AddHistogram("krond_worker_microvm_boot_seconds",
                                  "Guest boot time of microVM runs (kernel start to command "
                                  "start).",
                                  {"accelerator"}, metrics::DefaultLatencyBuckets())),
      clock_offset(r.AddGauge("krond_worker_clock_offset_seconds",
                              "This worker's clock minus the Kafka broker's (signed), from the "
                              "last clock probe round; 0 until the first.")
                       .Get()),
      clock_offset_uncertainty(
          r.AddGauge("krond_worker_clock_offset_uncertainty_seconds",
                     "Half the round trip of the clock probe behind "
                     "krond_worker_clock_offset_seconds: the true offset lies within it.")
              .Get()),
      clock_probe_rounds(r.AddCounter("krond_worker_clock_probe_rounds_total",
                                      "Clock probe rounds, by result: ok, failed (the log says "
                                      "why).",
                                      {"result"})) {
  for (const char* result : {"ok", "failed"}) clock_probe_rounds.WithLabels({result});
}

}  // namespace krond::worker
