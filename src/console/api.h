#pragma once

#include <chrono>
#include <string>

#include "common/clock.h"
#include "console/auth.h"
#include "console/cluster_stats.h"
#include "console/console_metrics.h"
#include "console/events.h"
#include "console/kafka_status.h"
#include "console/publisher.h"
#include "http/server.h"
#include "messages/signed_task.h"
#include "messages/topics.h"
#include "store/history_store.h"

// The console's REST API under /api/v1 (docs/api.md, docs/api.openapi.yaml): requests in,
// responses out, with the store for reads and a Publisher for writes. No sockets here: the
// console command serves Handle on an http::Server, tests call it directly.
namespace krond::console {

// Plain struct.
struct ApiOptions {
  // Tokens; null: no authentication, every caller is the operator "anonymous" (the console
  // then listens on loopback only). Must outlive the Api.
  const TokenTable* tokens = nullptr;
  // A backfill of more runs than this is refused (400). Default: 1000.
  size_t max_backfill = 1000;
  // An idle event stream gets a comment line this often, so proxies keep it open.
  // Default: 15 s.
  std::chrono::milliseconds heartbeat{15'000};
  // Writes the tasks of run-now, backfill and replay: signed with the console's
  // --task-signing-key, so workers that verify run them. Default: unsigned.
  messages::TaskSigner signer{};
  // Links shown by GET /api/v1/health when set.
  std::string grafana_url{};
  std::string prometheus_url{};
  // Whether Kafka answers, reported by GET /api/v1/health as "kafka" (the web console's
  // banner); null: the field is left out. Must outlive the Api.
  const KafkaStatus* kafka = nullptr;
};

// Thread-safe: Handle is called from the server's threads.
class Api {
 public:
  Api(const store::HistoryStore& store, Publisher& publisher, EventHub& events,
      const ClusterStats& stats, const Clock& clock, messages::TopicNames topics,
      ConsoleMetrics& metrics, ApiOptions options = {});

  // Any /api/v1/ request. Errors are {"error": "..."} with 400 (bad input), 401, 403, 404
  // (unknown job, run or path), 405, 409 (e.g. resuming a job that is not paused) or 503
  // (Kafka did not acknowledge a write; the store failed).
  http::Response Handle(const http::Request& request);

 private:
  struct Context;
  http::Response Dispatch(Context& c);

  const store::HistoryStore& store_;
  Publisher& publisher_;
  EventHub& events_;
  const ClusterStats& stats_;
  const Clock& clock_;
  const messages::TopicNames topics_;
  ConsoleMetrics& metrics_;
  const ApiOptions options_;
};

}  // namespace krond::console
