// `krond console`: reads the control-plane topics into a SQLite history and serves the REST
// API (docs/console.md, docs/api.md) and /metrics, /healthz, /readyz on one port.
#include <spdlog/spdlog.h>

#include <chrono>
#include <thread>

#include "common/clock.h"
#include "common/duration.h"
#include "common/signals.h"
#include "console/api.h"
#include "console/auth.h"
#include "console/ingester.h"
#include "console/publisher.h"
#include "http/admin_server.h"
#include "http/host_port.h"
#include "kafka/rdkafka_client.h"
#include "main/app_support.h"
#include "main/command.h"
#include "store/history_store.h"
#include "web/ui.h"

namespace krond::app {
namespace {

struct ConsoleFlags {
  std::string listen = "127.0.0.1:8080";
  std::string db = "var/console.db";
  std::string auth_file;
  std::string tls_cert;
  std::string tls_key;
  std::string retention = "30d";
  int64_t max_runs_per_job = 0;
  int max_backfill = 1000;
  std::string grafana_url;
  std::string prometheus_url;
  std::string task_signing_key;
  KafkaFlags kafka;
};

// A console without tokens lets anyone operate: only loopback callers may reach it.
bool IsLoopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

// The console's Kafka writes wait at most this long: a POST is answered 503 rather than
// hanging, and librdkafka drops a record it could not deliver in time (message.timeout.ms),
// so a refused run is not written later behind the operator's back.
constexpr std::chrono::milliseconds kWriteTimeout{10'000};
constexpr std::chrono::minutes kPruneEvery{10};

int RunConsole(const ConsoleFlags& flags) {
  SignalWatcher signals;
  RealClock clock;
  auto listen = http::ParseHostPort(flags.listen);
  if (!listen) {
    spdlog::error("--listen: {}", listen.error().message);
    return 2;
  }
  std::optional<console::TokenTable> tokens;
  if (flags.auth_file.empty()) {
    if (!IsLoopback(listen->host)) {
      spdlog::error(
          "refusing to listen on {} without --auth-file: without tokens anyone could "
          "run and pause jobs; listen on 127.0.0.1 or give an auth file (docs/api.md)",
          flags.listen);
      return 2;
    }
    spdlog::warn("no --auth-file: every local caller is an operator");
  } else {
    auto loaded = console::TokenTable::Load(flags.auth_file);
    if (!loaded) {
      spdlog::error("{}", loaded.error().message);
      return 2;
    }
    tokens = std::move(*loaded);
    spdlog::info("{} token(s) from {}", tokens->size(), flags.auth_file);
  }
  auto retention = flags.retention == "0"
                       ? Result<std::chrono::milliseconds>(std::chrono::milliseconds(0))
                       : ParseDuration(flags.retention);
  if (!retention) {
    spdlog::error("--retention: {}", retention.error().message);
    return 2;
  }
  store::StoreOptions store_options;
  store_options.retention = std::chrono::duration_cast<std::chrono::hours>(*retention);
  store_options.max_runs_per_job = flags.max_runs_per_job;
  auto store = store::HistoryStore::Open(flags.db, store_options);
  if (!store) {
    spdlog::error("{}", store.error().message);
    return 1;
  }
  spdlog::info("history store {} (schema {}, database {})", flags.db,
               store::HistoryStore::kSchemaVersion, (*store)->database_id());

  const messages::TopicNames topics = flags.kafka.Topics();
  auto client = flags.kafka.Client("krond-console-" + ProcessId());
  if (!client) {
    spdlog::error("{}", client.error().message);
    return 2;
  }
  metrics::Registry registry;
  registry.AddBuildInfo({{"version", KROND_VERSION}});
  console::ConsoleMetrics metrics(registry);
  kafka::ProducerOptions producer_options;
  producer_options.message_timeout = kWriteTimeout;
  console::KafkaStatus kafka_status;
  producer_options.on_error = [&metrics, &kafka_status, &clock](const std::string& error) {
    metrics.kafka_errors.Inc();
    kafka_status.OnError(error, clock.Now());
  };
  auto producer = kafka::NewRdKafkaProducer(*client, producer_options);
  if (!producer) {
    spdlog::error("{}", producer.error().message);
    return 1;
  }
  console::KafkaPublisher publisher(**producer, clock, kWriteTimeout);
  console::EventHub events;
  console::ClusterStats stats;
  console::ApiOptions api_options;
  api_options.tokens = tokens ? &*tokens : nullptr;
  api_options.max_backfill = static_cast<size_t>(flags.max_backfill);
  api_options.grafana_url = flags.grafana_url;
  api_options.prometheus_url = flags.prometheus_url;
  auto signer = LoadTaskSigner(flags.task_signing_key);
  if (!signer) {
    spdlog::error("--task-signing-key: {}", signer.error().message);
    return 2;
  }
  api_options.signer = std::move(*signer);
  api_options.kafka = &kafka_status;
  console::Api api(**store, publisher, events, stats, clock, topics, metrics, api_options);
  LoopHealth health(clock, "topics not ensured yet (is Kafka up?)");
  http::AdminEndpoints admin(registry, health.Probes());
  const web::Ui ui;

  http::ServerOptions server_options;
  server_options.threads = 16;
  // POST bodies are small JSON (a pause reason, a backfill range).
  server_options.max_body_bytes = 64 * 1024;
  server_options.tls_cert = flags.tls_cert;
  server_options.tls_key = flags.tls_key;
  server_options.address_flag = "--listen";
  server_options.json_errors = true;
  http::Server server(
      [&](const http::Request& r) -> http::Response {
        // The web console's page before the admin endpoints, which list themselves at "/".
        if (auto page = ui.Handle(r)) return *page;
        if (auto response = admin.Handle(r)) return *response;
        if (r.path.rfind("/api/", 0) == 0) return api.Handle(r);
        http::Response out;
        out.status = 404;
        out.body = http::JsonError("not found: " + r.path);
        return out;
      },
      server_options);
  auto port = server.Start(flags.listen);
  if (!port) {
    spdlog::error("{}", port.error().message);
    return 1;
  }
  spdlog::info("console serving the API on {}://{}:{}/api/v1 (and /metrics /healthz /readyz)",
               server.tls() ? "https" : "http", listen->host, *port);
  spdlog::info("web console on {}://{}:{}/", server.tls() ? "https" : "http", listen->host, *port);

  // Reads work from here on; writes and fresh history need Kafka.
  int rc = 0;
  if (auto ok = EnsureTopicsPatiently(flags.kafka, ClusterTopics(flags.kafka, {}), signals); !ok) {
    if (!signals.stop_requested()) {
      spdlog::error("{}", ok.error().message);
      rc = 1;
    }
  }
  kafka::ConsumerOptions consumer_options;
  consumer_options.group_id = topics.ConsoleGroup((*store)->database_id());
  consumer_options.on_error = [&metrics, &kafka_status, &clock](const std::string& error) {
    metrics.kafka_errors.Inc();
    kafka_status.OnError(error, clock.Now());
  };
  auto consumer = kafka::NewRdKafkaConsumer(*client, consumer_options);
  if (!consumer) {
    spdlog::error("{}", consumer.error().message);
    rc = 1;
  }
  if (rc == 0 && !signals.stop_requested()) {
    console::Ingester ingester(**consumer, **store, events, stats, metrics, clock, topics);
    if (auto ok = ingester.Start(); !ok) {
      spdlog::error("subscribe: {}", ok.error().message);
      rc = 1;
    } else {
      health.MarkReady();
      spdlog::info("console ingesting {} (consumer group {})",
                   console::Ingester::TopicPattern(topics), consumer_options.group_id);
      MonoTime next_prune = clock.MonoNow();
      while (!signals.stop_requested()) {
        if (ingester.Step(std::chrono::milliseconds(200)) > 0) kafka_status.OnSuccess(clock.Now());
        (*producer)->Poll(std::chrono::milliseconds(0));
        health.MarkProgress();
        if (clock.MonoNow() >= next_prune) {
          next_prune = clock.MonoNow() + kPruneEvery;
          if (auto pruned = (*store)->Prune(clock.Now().time_since_epoch().count()); !pruned) {
            spdlog::error("prune: {}", pruned.error().message);
          } else if (*pruned > 0) {
            spdlog::info("pruned {} run(s) older than {}", *pruned, flags.retention);
          }
        }
        if (ingester.pending() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(500));
      }
    }
  }
  events.Close();
  server.Stop();
  if (consumer) (*consumer)->Close();
  spdlog::info("console stopped");
  return rc;
}

KROND_REGISTER_COMMAND(Command{
    "console", "Serve the control-plane API over a history of the Kafka topics",
    [](CLI::App& sub) -> std::function<int()> {
      auto flags = std::make_shared<ConsoleFlags>();
      sub.add_option("--listen", flags->listen,
                     "HOST:PORT of the API, /metrics, /healthz, /readyz (port 0 picks a free one)")
          ->capture_default_str();
      sub.add_option("--db", flags->db, "SQLite history file (a cache of the topics)")
          ->capture_default_str();
      sub.add_option("--auth-file", flags->auth_file,
                     "Tokens, one per line: NAME ROLE SHA256_OF_TOKEN (ROLE viewer|operator); "
                     "without it only loopback addresses are allowed (a directory: every file "
                     "in it, e.g. a mounted Secret)")
          ->check(CLI::ExistingPath);
      sub.add_option("--tls-cert", flags->tls_cert, "PEM certificate: serve HTTPS")
          ->check(CLI::ExistingFile);
      sub.add_option("--tls-key", flags->tls_key, "PEM private key of --tls-cert")
          ->check(CLI::ExistingFile);
      sub.add_option("--retention", flags->retention,
                     "Keep runs scheduled within this long (e.g. 30d, 12h; 0: forever)")
          ->capture_default_str();
      sub.add_option("--max-runs-per-job", flags->max_runs_per_job,
                     "Keep at most this many runs per job (0: no limit)")
          ->check(CLI::NonNegativeNumber)
          ->capture_default_str();
      sub.add_option("--max-backfill", flags->max_backfill, "Most runs one backfill may create")
          ->check(CLI::Range(1, 100'000))
          ->capture_default_str();
      sub.add_option("--grafana-url", flags->grafana_url, "Shown by /api/v1/health");
      sub.add_option("--prometheus-url", flags->prometheus_url, "Shown by /api/v1/health");
      sub.add_option("--task-signing-key", flags->task_signing_key,
                     "Private key (krond keygen) to sign run-now and backfill tasks with, like "
                     "the scheduler's (docs/security.md)")
          ->check(CLI::ExistingFile);
      flags->kafka.Add(sub);
      return [flags] { return RunConsole(*flags); };
    }});

}  // namespace
}  // namespace krond::app
