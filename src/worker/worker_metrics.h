#pragma once

#include "metrics/registry.h"

namespace krond::worker {

// Every metric a worker exports (docs/metrics.md), declared once.
struct WorkerMetrics {
  explicit WorkerMetrics(metrics::Registry& r);

  metrics::Family<metrics::Counter>& runs_started;   // {cluster, queue}
  metrics::Family<metrics::Counter>& runs_finished;  // {cluster, queue, outcome}
  metrics::Family<metrics::Histogram>& runtime;      // job_runtime_seconds {queue}
  // Start minus scheduled_at (first attempts) or minus not_before (retries).
  metrics::Family<metrics::Histogram>& start_delay;  // {cluster, queue}
  metrics::Gauge& in_flight;
  // Runs held until their scheduled_at (WorkerOptions::max_early).
  metrics::Gauge& early_runs;
  // Held runs whose job was paused or removed before their instant: skipped, never run.
  metrics::Family<metrics::Counter>& runs_cancelled;  // {cluster, reason}
  // Held runs whose instant came before the run gate was ready (WorkerOptions::gate_ready),
  // by how their wait ended: ready (then checked as usual), timed_out (skipped, never run).
  metrics::Family<metrics::Counter>& gate_waits;  // {cluster, result}
  // Runs that arrived further ahead than max_hold_ahead (a clock far off).
  metrics::Counter& early_capped;
  metrics::Gauge& slots;
  // First attempts skipped because they could not start within their starting_deadline.
  metrics::Family<metrics::Counter>& runs_missed_deadline;    // {cluster}
  metrics::Family<metrics::Counter>& retries_published;       // {cluster}
  metrics::Family<metrics::Counter>& dead_letters_published;  // {cluster, reason}
  metrics::Counter& invalid_messages;
  // Tasks refused for their signature (unsigned, untrusted_key, bad_signature): never run.
  metrics::Family<metrics::Counter>& tasks_refused;  // {cluster, reason}
  metrics::Family<metrics::Counter>& runs_refused;   // {cluster, reason}
  metrics::Counter& kafka_errors;
  metrics::Counter& publish_errors;
  // Records Kafka refused for good, each replaced by a smaller one or dropped.
  metrics::Family<metrics::Counter>& publish_refused;  // {record, reason}
  // Records given up with nothing published in their place.
  metrics::Family<metrics::Counter>& records_dropped;  // {record}
  // Records still unacknowledged when the worker stopped (their runs are redelivered).
  metrics::Counter& records_unflushed;
  metrics::Counter& commit_errors;
  // Runs whose partition's previous owner had started them (run again, exempt from
  // starting_deadline) or finished them (not run again).
  metrics::Family<metrics::Counter>& runs_redelivered;  // {cluster, queue, state}
  // Runs cut short and left uncommitted for another worker: shutdown, revoked, lost.
  metrics::Family<metrics::Counter>& runs_handed_over;  // {cluster, queue, reason}
  // Commit metadata (the started/finished note) that could not be read (read, decode) or
  // did not fit (truncated): those runs are treated as new by the next owner.
  metrics::Family<metrics::Counter>& commit_metadata_errors;  // {reason}
  // Unix time of the last successful poll of Kafka (liveness of the consume loop).
  metrics::Gauge& last_poll;
  // 1 while the worker takes no new runs because its host is overloaded (--max-load).
  metrics::Gauge& overloaded;
  // Offset last committed per partition (the next one to read). Consumer lag is the broker's
  // log end offset minus this; the series outlives a dead worker in Prometheus' max_over_time.
  metrics::Family<metrics::Gauge>& committed_offset;  // {topic, partition}
  // 1 for the accelerator this worker's microVMs use (kvm or tcg), once it is known.
  metrics::Family<metrics::Gauge>& microvm_accelerator;  // {accelerator}
  // Guest boot time of each microVM run (kernel start to command start).
  metrics::Family<metrics::Histogram>& microvm_boot;  // {accelerator}
  // This host's clock minus the broker's, from the last successful clock probe round
  // (ClockProbe); 0 until then.
  metrics::Gauge& clock_offset;
  // Half the round trip of that estimate: the true offset is within clock_offset ± this.
  metrics::Gauge& clock_offset_uncertainty;
  // Clock probe rounds, by result: ok, failed.
  metrics::Family<metrics::Counter>& clock_probe_rounds;  // {result}
};

}  // namespace krond::worker
