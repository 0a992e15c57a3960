// `krond worker`: executes the runs of one cluster's task or retry topic.
#include <spdlog/spdlog.h>

#include <atomic>

#include "common/clock.h"
#include "common/duration.h"
#include "common/signals.h"
#include "exec/bubblewrap_executor.h"
#include "exec/process_executor.h"
#include "kafka/rdkafka_client.h"
#include "main/app_support.h"
#include "main/command.h"
#include "worker/worker.h"

namespace krond::app {
namespace {

struct WorkerFlags {
  std::string cluster;
  std::string queue = "main";
  int slots = 1;
  std::string sandbox = "none";
  std::string drain_timeout = "30s";
  std::string metrics_addr = "127.0.0.1:0";
  KafkaFlags kafka;
};

int RunWorker(const WorkerFlags& flags) {
  SignalWatcher signals;
  RealClock clock;
  worker::WorkerOptions options;
  options.cluster = flags.cluster;
  options.queue = flags.queue == "retry" ? messages::Queue::kRetry : messages::Queue::kMain;
  options.slots = flags.slots;
  options.worker_id = ProcessId();
  auto drain = ParseDuration(flags.drain_timeout);
  if (!drain) {
    spdlog::error("--drain-timeout {}", drain.error().message);
    return 2;
  }
  options.drain_timeout = *drain;
  if (auto ok = options.Validate(); !ok) {
    spdlog::error("{}", ok.error().message);
    return 2;
  }

  exec::ProcessExecutor process_executor(clock);
  std::unique_ptr<exec::BubblewrapExecutor> sandbox;
  exec::Executor* executor = &process_executor;
  if (flags.sandbox == "bubblewrap") {
    sandbox = std::make_unique<exec::BubblewrapExecutor>(process_executor);
    if (auto ok = sandbox->Probe(); !ok) {
      spdlog::error("--sandbox bubblewrap unusable on this host: {}", ok.error().message);
      return 1;
    }
    executor = sandbox.get();
  }

  metrics::Registry registry;
  worker::WorkerMetrics metrics(registry);
  LoopHealth health(clock, "not subscribed yet");
  auto server = StartAdminServer(registry, flags.metrics_addr, health.Probes());
  if (!server) {
    spdlog::error("{}", server.error().message);
    return 1;
  }
  // Workers may start first: create the cluster's topics if Kafka is there, but never
  // wait for it (the consumer picks the topics up within seconds once they exist).
  {
    auto config = flags.kafka.Client("krond-admin-" + ProcessId());
    if (config) {
      if (auto admin_client = kafka::NewRdKafkaAdmin(*config)) {
        auto reports = (*admin_client)
                           ->EnsureTopics(ClusterTopics(flags.kafka, {flags.cluster}),
                                          std::chrono::seconds(5));
        if (!reports) spdlog::warn("topics not ensured: {}", reports.error().message);
      }
    }
  }
  const std::string id = "krond-worker-" + flags.cluster + "-" + ProcessId();
  auto client = flags.kafka.Client(id);
  if (!client) {
    spdlog::error("{}", client.error().message);
    return 2;
  }
  kafka::ProducerOptions producer_options;
  producer_options.on_error = [&](const std::string&) { metrics.consumer_errors.Inc(); };
  auto producer = kafka::NewRdKafkaProducer(*client, producer_options);
  if (!producer) {
    spdlog::error("{}", producer.error().message);
    return 1;
  }
  // The worker is the consumer's rebalance listener, but needs the consumer to exist:
  // a small forwarding listener breaks the cycle.
  struct Forward : kafka::RebalanceListener {
    worker::Worker* target = nullptr;
    void OnAssigned(const std::vector<kafka::TopicPartition>& p) override {
      if (target != nullptr) target->OnAssigned(p);
    }
    void OnRevoked(const std::vector<kafka::TopicPartition>& p) override {
      if (target != nullptr) target->OnRevoked(p);
    }
  } forward;
  kafka::ConsumerOptions consumer_options;
  consumer_options.group_id = flags.kafka.Topics().WorkerGroup(options.queue, flags.cluster);
  consumer_options.listener = &forward;
  consumer_options.on_error = [&](const std::string&) { metrics.consumer_errors.Inc(); };
  auto consumer = kafka::NewRdKafkaConsumer(*client, consumer_options);
  if (!consumer) {
    spdlog::error("{}", consumer.error().message);
    return 1;
  }
  worker::Worker worker(clock, **consumer, **producer, *executor, metrics, flags.kafka.Topics(),
                        options);
  forward.target = &worker;
  if (auto ok = worker.Start(); !ok) {
    spdlog::error("{}", ok.error().message);
    return 1;
  }
  health.MarkReady();
  while (!signals.stop_requested()) {
    // While commands run, wait at most 2 ms in the consumer: a finished run (its result,
    // its commit, the slot it frees for a parked partition) is noticed only between polls,
    // and nothing wakes the poll when a slot thread finishes. Idle, 100 ms keeps the loop
    // cheap. (Measured: docs/benchmarks.md, "Pipeline lateness".)
    worker.Step(std::chrono::milliseconds(worker.running() > 0 ? 2 : 100));
    health.MarkProgress();
  }
  worker.Stop();
  forward.target = nullptr;
  (*server)->Stop();
  return 0;
}

KROND_REGISTER_COMMAND(Command{
    "worker", "Execute the runs of one cluster", [](CLI::App& sub) -> std::function<int()> {
      auto flags = std::make_shared<WorkerFlags>();
      sub.add_option("--cluster", flags->cluster, "Cluster whose runs to execute")->required();
      sub.add_option("--queue", flags->queue, "main (first attempts) or retry")
          ->check(CLI::IsMember({"main", "retry"}))
          ->capture_default_str();
      sub.add_option("--slots", flags->slots, "Runs executed at once")
          ->check(CLI::Range(1, 1024))
          ->capture_default_str();
      sub.add_option("--sandbox", flags->sandbox, "none or bubblewrap")
          ->check(CLI::IsMember({"none", "bubblewrap"}))
          ->capture_default_str();
      sub.add_option("--drain-timeout", flags->drain_timeout,
                     "On SIGTERM, how long running commands may finish")
          ->capture_default_str();
      sub.add_option("--metrics-addr", flags->metrics_addr,
                     "HOST:PORT for /metrics, /healthz, /readyz (port 0 picks a free one)")
          ->capture_default_str();
      flags->kafka.Add(sub);
      return [flags] { return RunWorker(*flags); };
    }});

}  // namespace
}  // namespace krond::app
