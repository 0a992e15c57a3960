#pragma once

#include "metrics/registry.h"

namespace krond::console {

// Every metric the console exports (docs/metrics.md), declared once.
struct ConsoleMetrics {
  explicit ConsoleMetrics(metrics::Registry& r);

  // API requests by endpoint (e.g. "jobs/{job}/runs") and status code.
  metrics::Family<metrics::Counter>& requests;  // {endpoint, code}
  // Requests refused for a missing or unknown token (401) or a viewer's write (403).
  metrics::Family<metrics::Counter>& auth_failures;  // {reason="unauthenticated"|"forbidden"}
  // Records read from Kafka into the store, by kind (result, task, retry, dead, catalog,
  // control, replay).
  metrics::Family<metrics::Counter>& ingested;  // {kind}
  // Records that could not be decoded and were skipped, by kind.
  metrics::Family<metrics::Counter>& ingest_errors;  // {kind}
  // Ingest batches that failed to be written (retried) and Kafka errors of the consumer.
  metrics::Counter& store_errors;
  metrics::Counter& kafka_errors;
  // Unix time of the newest result ingested; 0 before the first.
  metrics::Gauge& last_result;
  // Open /api/v1/events streams.
  metrics::Gauge& event_streams;
  // Runs produced by the API, by trigger (manual, backfill, replay).
  metrics::Family<metrics::Counter>& runs_requested;  // {trigger}
};

}  // namespace krond::console
