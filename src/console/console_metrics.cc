#include "console/console_metrics.h"

namespace krond::console {

ConsoleMetrics::ConsoleMetrics(metrics::Registry& r)
    : requests(r.AddCounter("krond_console_requests_total", "API requests by endpoint and status.",
                            {"endpoint", "code"})),
      auth_failures(r.AddCounter("krond_console_auth_failures_total",
                                 "API requests refused: unauthenticated (401) or forbidden (403).",
                                 {"reason"})),
      ingested(r.AddCounter("krond_console_ingested_total",
                            "Kafka records read into the history store, by kind.", {"kind"})),
      ingest_errors(r.AddCounter("krond_console_ingest_errors_total",
                                 "Kafka records skipped because they could not be decoded.",
                                 {"kind"})),
      store_errors(r.AddCounter("krond_console_store_errors_total",
                                "Ingest batches the history store failed to write (retried).")
                       .Get()),
      kafka_errors(r.AddCounter("krond_console_kafka_errors_total",
                                "Kafka client errors seen by the console.")
                       .Get()),
      last_result(r.AddGauge("krond_console_last_result_timestamp_seconds",
                             "Finish time of the newest result ingested (0: none yet).")
                      .Get()),
      event_streams(
          r.AddGauge("krond_console_event_streams", "Open /api/v1/events streams.").Get()),
      runs_requested(r.AddCounter("krond_console_runs_requested_total",
                                  "Runs produced through the API, by trigger.", {"trigger"})) {
  for (const char* reason : {"unauthenticated", "forbidden"}) auth_failures.WithLabels({reason});
  for (const char* trigger : {"manual", "backfill", "replay"}) runs_requested.WithLabels({trigger});
}

}  // namespace krond::console
