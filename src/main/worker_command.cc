// `krond worker`: executes the runs of one cluster's task or retry topic.
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <functional>
#include <limits>
#include <optional>
#include <stop_token>
#include <string_view>
#include <thread>
#include <tuple>

#include "common/byte_size.h"
#include "common/clock.h"
#include "common/duration.h"
#include "common/signals.h"
#include "control/control_follower.h"
#include "control/run_gate.h"
#include "exec/bubblewrap_executor.h"
#include "exec/microvm_executor.h"
#include "exec/process_executor.h"
#include "exec/run_as.h"
#include "kafka/rdkafka_client.h"
#include "main/app_support.h"
#include "main/command.h"
#include "worker/clock_probe.h"
#include "worker/lazy_sandbox.h"
#include "worker/worker.h"

namespace krond::app {
namespace {

// Idle shells cost about 1 MB of memory each (mostly shared pages); a worker with many
// slots rarely starts all of them at the same instant.
constexpr int kDefaultMaxWarmShells = 64;

struct WorkerFlags {
  std::string cluster;
  std::string queue = "main";
  int slots = 1;
  // -1: as many as --slots, at most kDefaultMaxWarmShells.
  int warm_shells = -1;
  std::string sandbox = "none";
  std::string microvm_image = "var/microvm";
  std::string microvm_accelerator = "auto";
  std::string microvm_memory = "256MiB";
  uint32_t microvm_vcpus = 1;
  std::string drain_timeout = "30s";
  std::string max_timeout = "24h";
  std::string kill_grace = "5s";
  std::string flush_timeout = "5s";
  size_t max_early = 10'000;
  std::string max_hold_ahead = "60s";
  std::string control_wait = "10s";
  std::string clock_probe_interval = "30s";
  size_t output_tail_kib = 16;
  uint64_t limit_cpu = 0;
  std::string limit_memory;
  uint64_t limit_files = 0;
  uint64_t limit_procs = 0;
  double max_load = 0;
  std::string metrics_addr = "127.0.0.1:0";
  std::string run_guard = "auto";
  std::string instance_id;
  std::vector<std::string> task_public_keys;
  std::string run_as;
  bool allow_root = false;
  std::vector<std::string> pass_env;
  KafkaFlags kafka;
};

// krond-guard for --run-guard: "auto" is the one next to this binary; "none" runs commands
// without it (they then outlive a worker that dies).
Result<std::string> GuardPath(const std::string& flag) {
  if (flag == "none") return std::string();
  std::string path = flag;
  if (flag == "auto") {
    std::error_code error;
    const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe", error);
    if (error) return MakeError("--run-guard auto: cannot find this binary: " + error.message());
    path = (self.parent_path() / "krond-guard").string();
  }
  if (access(path.c_str(), X_OK) != 0) {
    return MakeError("--run-guard: " + path +
                     " is not an executable (install krond-guard next to krond, pass its path, "
                     "or --run-guard none to let commands outlive a dead worker)");
  }
  return path;
}

// What the worker's own flags say: its options, and how often to probe the clock (0: never).
struct WorkerSettings {
  worker::WorkerOptions options;
  std::chrono::milliseconds clock_probe_interval{0};
};

// Checks --run-as against the user database and root; logs who commands run as.
Status CheckRunAs(const WorkerFlags& flags, bool refuse_root) {
  if (!flags.run_as.empty()) {
    // Now rather than at the first run: a typo would otherwise fail every run.
    auto user = exec::LookupUser(flags.run_as);
    if (!user) return MakeError("--run-as: " + user.error().message);
    if (user->uid == 0 && refuse_root) {
      return MakeError("--run-as " + flags.run_as +
                       " is root (uid 0): pass --allow-root to run commands as root");
    }
    spdlog::info("commands of jobs without user: run as {} (uid {})", flags.run_as, user->uid);
  } else if (geteuid() == 0 && flags.allow_root) {
    spdlog::warn(
        "--allow-root: commands of jobs without user: run as root (docs/security.md, "
        "\"Commands run with least privilege\")");
  } else if (refuse_root) {
    spdlog::warn(
        "running as root without --run-as: runs of jobs without user: are refused (pass "
        "--run-as USER, or --allow-root)");
  }
  return {};
}

// The flags that configure the worker itself, not its executors or Kafka clients.
Result<WorkerSettings> ReadWorkerFlags(const WorkerFlags& flags) {
  WorkerSettings settings;
  worker::WorkerOptions& options = settings.options;
  options.cluster = flags.cluster;
  options.queue = flags.queue == "retry" ? messages::Queue::kRetry : messages::Queue::kMain;
  options.slots = flags.slots;
  options.worker_id = ProcessId();
  for (auto [flag, text, out] :
       {std::tuple{"--drain-timeout", &flags.drain_timeout, &options.drain_timeout},
        std::tuple{"--max-timeout", &flags.max_timeout, &options.max_timeout},
        std::tuple{"--kill-grace", &flags.kill_grace, &options.kill_grace},
        std::tuple{"--flush-timeout", &flags.flush_timeout, &options.flush_timeout},
        std::tuple{"--max-hold-ahead", &flags.max_hold_ahead, &options.max_hold_ahead},
        std::tuple{"--control-wait", &flags.control_wait, &options.gate_wait}}) {
    auto parsed = ParseDuration(*text);
    if (!parsed) return MakeError(std::string(flag) + " " + parsed.error().message);
    *out = *parsed;
  }
  // "0" turns the clock probe off (ParseDuration takes only positive durations).
  if (flags.clock_probe_interval != "0" && flags.clock_probe_interval != "0s") {
    auto parsed = ParseDuration(flags.clock_probe_interval);
    if (!parsed) return MakeError("--clock-probe-interval " + parsed.error().message);
    settings.clock_probe_interval = *parsed;
  }
  options.output_tail_bytes = flags.output_tail_kib * 1024;
  options.max_early = flags.max_early;
  if (flags.limit_cpu > 0) options.limits.cpu_seconds = flags.limit_cpu;
  if (flags.limit_files > 0) options.limits.open_files = flags.limit_files;
  if (flags.limit_procs > 0) options.limits.processes = flags.limit_procs;
  if (!flags.limit_memory.empty()) {
    auto bytes = ParseByteSize(flags.limit_memory);
    if (!bytes) {
      return MakeError("--limit-memory: expected a size such as 512MiB, got \"" +
                       flags.limit_memory + "\"");
    }
    options.limits.address_space_bytes = *bytes;
  }
  options.max_load = flags.max_load;
  auto trusted = LoadTrustedKeys(flags.task_public_keys);
  if (!trusted) return tl::unexpected(trusted.error());
  options.trusted_keys = std::move(*trusted);
  if (options.trusted_keys.empty()) {
    spdlog::warn(
        "tasks are not verified: without --task-public-keys this worker runs any task written "
        "to its topics, signed or not (docs/security.md, \"Signed tasks\")");
  }
  options.run_as = flags.run_as;
  options.refuse_root = geteuid() == 0 && !flags.allow_root;
  if (Status valid = options.Validate(); !valid) return tl::unexpected(valid.error());
  if (Status run_as = CheckRunAs(flags, options.refuse_root); !run_as) {
    return tl::unexpected(run_as.error());
  }
  return settings;
}

// How the worker starts processes: the guard, the environment, the warm shells.
Result<exec::ProcessExecutorOptions> ReadProcessFlags(const WorkerFlags& flags,
                                                      const worker::WorkerOptions& options) {
  exec::ProcessExecutorOptions exec_options;
  auto guard = GuardPath(flags.run_guard);
  if (!guard) return tl::unexpected(guard.error());
  exec_options.guard_path = *guard;
  if (guard->empty() && !flags.run_as.empty()) {
    return MakeError("--run-as needs krond-guard, which switches the user (not --run-guard none)");
  }
  if (guard->empty()) spdlog::warn("--run-guard none: commands outlive this worker if it dies");
  exec_options.environment = exec::FilterEnvironment(exec::ProcessEnvironment(), flags.pass_env);
  exec_options.warm_shell_user = flags.run_as;
  exec_options.refuse_uid0_user = options.refuse_root;
  // Orphans of the commands (daemons that escaped with setsid) become this process's
  // children, and are reaped; as a container's PID 1 they come here anyway.
  exec_options.reap_orphans = true;
  // Warm shells serve unsandboxed runs without limits only (WarmShellPool::Eligible).
  const bool warm_usable = flags.sandbox == "none" && options.limits.Empty();
  const int warm =
      flags.warm_shells >= 0 ? flags.warm_shells : std::min(flags.slots, kDefaultMaxWarmShells);
  exec_options.warm_shells = warm_usable ? static_cast<size_t>(warm) : 0;
  if (warm > 0 && !warm_usable) {
    spdlog::info("no warm shells: they cannot apply --sandbox or --limit-* (runs are spawned)");
  }
  return exec_options;
}

// The microVMs' defaults; the accelerator chosen is logged and exported.
Result<exec::MicroVmOptions> ReadMicroVmFlags(const WorkerFlags& flags,
                                              worker::WorkerMetrics& metrics) {
  exec::MicroVmOptions vm_options;
  vm_options.image_dir = flags.microvm_image;
  if (flags.microvm_accelerator == "kvm") vm_options.accelerator = exec::Accelerator::kKvm;
  if (flags.microvm_accelerator == "tcg") vm_options.accelerator = exec::Accelerator::kTcg;
  const std::optional<uint64_t> vm_memory = ParseByteSize(flags.microvm_memory);
  if (!vm_memory || *vm_memory % (1 << 20) != 0 || *vm_memory < (uint64_t{64} << 20)) {
    return MakeError("--microvm-memory: expected a whole number of MiB, at least 64MiB, got \"" +
                     flags.microvm_memory + "\"");
  }
  vm_options.default_memory_mib = static_cast<uint32_t>(*vm_memory >> 20);
  vm_options.default_vcpus = flags.microvm_vcpus;
  vm_options.on_accelerator_chosen = [&metrics](exec::Accelerator accelerator,
                                                const std::string& reason) {
    const std::string_view name = exec::ToString(accelerator);
    spdlog::info("microVMs use {}: {}", name, reason);
    metrics.microvm_accelerator.WithLabels({name}).Set(1);
  };
  return vm_options;
}

// The executors of a worker: processes, bubblewrap and microVMs over them. Runs of jobs with
// `sandbox: bubblewrap` or `microvm` always go through that sandbox. A worker that sandboxes
// every run (--sandbox) checks the sandbox at start-up and refuses to start without it;
// otherwise the first run that asks for it does, and if unusable such runs fail
// (spawn_failed).
class WorkerExecutors {
 public:
  WorkerExecutors(const Clock& clock, const exec::ProcessExecutorOptions& process_options,
                  const exec::MicroVmOptions& vm_options)
      : process_(clock, process_options),
        bubblewrap_(process_),
        lazy_bubblewrap_(bubblewrap_, [this] { return bubblewrap_.Probe(); }),
        microvm_(process_, vm_options),
        lazy_microvm_(microvm_, [this] { return microvm_.CheckUsable(); }) {}

  // `sandbox` is --sandbox: none, bubblewrap or microvm.
  Status SandboxEveryRun(const std::string& sandbox) {
    if (sandbox == "bubblewrap") {
      if (Status usable = bubblewrap_.Probe(); !usable) {
        return MakeError("--sandbox bubblewrap unusable on this host: " + usable.error().message);
      }
      every_run_ = sandboxed_ = &bubblewrap_;
    } else if (sandbox == "microvm") {
      if (Status usable = microvm_.CheckUsable(); !usable) {
        return MakeError("--sandbox microvm unusable on this host: " + usable.error().message);
      }
      every_run_ = sandboxed_ = microvm_runs_ = &microvm_;
      // KVM or TCG is decided once, by booting a guest (up to 5 s where KVM hangs): here in
      // the background (the first run waits for it); on other workers on the first microvm
      // run, so that they never pay for it.
      microvm_.StartAcceleratorProbe();
    }
    return {};
  }

  exec::Executor& every_run() const { return *every_run_; }
  exec::Executor* sandboxed() const { return sandboxed_; }
  exec::Executor* microvm_runs() const { return microvm_runs_; }

 private:
  exec::ProcessExecutor process_;
  exec::BubblewrapExecutor bubblewrap_;
  worker::LazySandboxExecutor lazy_bubblewrap_;
  exec::MicroVmExecutor microvm_;
  worker::LazySandboxExecutor lazy_microvm_;
  exec::Executor* every_run_ = &process_;
  exec::Executor* sandboxed_ = &lazy_bubblewrap_;
  exec::Executor* microvm_runs_ = &lazy_microvm_;
};

// Workers may start first: creates the cluster's topics if Kafka is there, but never waits
// for it (the consumer picks the topics up within seconds once they exist).
void EnsureWorkerTopics(const WorkerFlags& flags, bool clock_probe) {
  auto config = flags.kafka.Client("krond-admin-" + ProcessId());
  if (!config) return;
  auto admin_client = kafka::NewRdKafkaAdmin(*config);
  if (!admin_client) return;
  std::vector<kafka::TopicSpec> specs = ClusterTopics(flags.kafka, {flags.cluster});
  if (clock_probe) specs.push_back(ClockTopic(flags.kafka));
  auto reports = (*admin_client)->EnsureTopics(specs, std::chrono::seconds(5));
  if (!reports) spdlog::warn("topics not ensured: {}", reports.error().message);
}

// Records are cut to the producer's own limit (WorkerOptions::max_message_bytes).
Status ApplyMessageLimit(const kafka::ClientConfig& client, worker::WorkerOptions& options) {
  auto it = client.overrides.find("message.max.bytes");
  if (it == client.overrides.end()) return {};
  auto bytes = ParseByteSize(it->second);
  if (!bytes || *bytes > std::numeric_limits<size_t>::max()) {
    return MakeError("--kafka-setting message.max.bytes=" + it->second + ": expected a number");
  }
  options.max_message_bytes = static_cast<size_t>(*bytes);
  return options.Validate();
}

// The worker is the consumer's rebalance listener, but needs the consumer to exist: this
// forwarding listener breaks the cycle.
struct ForwardingListener : kafka::RebalanceListener {
  worker::Worker* target = nullptr;
  void OnAssigned(const std::vector<kafka::TopicPartition>& p) override {
    if (target != nullptr) target->OnAssigned(p);
  }
  void OnRevoked(const std::vector<kafka::TopicPartition>& p) override {
    if (target != nullptr) target->OnRevoked(p);
  }
  void OnLost(const std::vector<kafka::TopicPartition>& p) override {
    if (target != nullptr) target->OnLost(p);
  }
};

// The consumer of the cluster's task (or retry) topic.
kafka::ConsumerOptions TaskConsumerOptions(const WorkerFlags& flags,
                                           const worker::WorkerOptions& options,
                                           kafka::RebalanceListener& listener,
                                           worker::WorkerMetrics& metrics) {
  kafka::ConsumerOptions consumer_options;
  consumer_options.group_id = flags.kafka.Topics().WorkerGroup(options.queue, flags.cluster);
  consumer_options.listener = &listener;
  consumer_options.group_instance_id = flags.instance_id;
  // A revoke may wait out the drain timeout and a kill grace (Worker::OnRevoked) before the
  // group may move on: the rebalance timeout must be longer, or the group would drop this
  // worker and hand its partitions over while their runs still go on.
  consumer_options.max_poll_interval = std::max<std::chrono::milliseconds>(
      consumer_options.max_poll_interval,
      options.drain_timeout + options.kill_grace + std::chrono::seconds(60));
  consumer_options.on_error = [&metrics](const std::string&) { metrics.kafka_errors.Inc(); };
  return consumer_options;
}

// The consumer of the control and catalog topics for the run gate: a group of this process's
// own, which reads them from their beginning.
Result<std::unique_ptr<kafka::Consumer>> NewControlConsumer(const WorkerFlags& flags,
                                                            const std::string& id,
                                                            worker::WorkerMetrics& metrics) {
  auto control_client = flags.kafka.Client(id + "-control");
  if (!control_client) return tl::unexpected(control_client.error());
  kafka::ConsumerOptions control_options;
  control_options.group_id = flags.kafka.Topics().WorkerControlGroup(ProcessId());
  control_options.quiet_rebalances = true;
  control_options.report_ends = true;  // the gate is ready once both topics are read
  control_options.on_error = [&metrics](const std::string&) { metrics.kafka_errors.Inc(); };
  return kafka::NewRdKafkaConsumer(*control_client, control_options);
}

// The clock probe (worker/clock_probe.h) has a producer and a follower of its own, on its
// own thread: its round trips never wait behind the worker's records, and a broker that does
// not answer it never holds up a run.
struct RunningClockProbe {
  std::unique_ptr<kafka::Producer> producer;
  std::unique_ptr<kafka::PartitionFollower> follower;
  std::unique_ptr<worker::ClockProbe> probe;  // null when its clients could not be made
};

RunningClockProbe StartClockProbe(const Clock& clock, const WorkerFlags& flags,
                                  const kafka::ClientConfig& client, const std::string& id,
                                  std::chrono::milliseconds interval,
                                  worker::WorkerMetrics& metrics) {
  worker::ClockProbeOptions probe_options;
  probe_options.topic = flags.kafka.Topics().Clock();
  probe_options.probe_id = id;
  probe_options.interval = interval;
  kafka::ClientConfig probe_client = client;
  probe_client.client_id = id + "-clock";
  // No batching delay on the way to the broker: it would count as one leg of the trip.
  probe_client.overrides["linger.ms"] = "0";
  kafka::ProducerOptions producer_options;
  // A probe that could not be written in time is worth nothing: it must not queue up while
  // Kafka is away.
  producer_options.message_timeout = std::chrono::seconds(10);
  auto producer = kafka::NewRdKafkaProducer(probe_client, producer_options);
  probe_client.overrides.erase("linger.ms");  // a producer property: consumers warn of it
  auto follower =
      kafka::NewRdKafkaPartitionFollower(probe_client, probe_options.topic, 0, /*tail=*/0);
  RunningClockProbe running;
  if (!producer || !follower) {
    // The worker works on, unprobed.
    spdlog::warn("clock probe off: {}",
                 !producer ? producer.error().message : follower.error().message);
    return running;
  }
  running.producer = std::move(*producer);
  running.follower = std::move(*follower);
  running.probe = std::make_unique<worker::ClockProbe>(clock, *running.producer, *running.follower,
                                                       metrics, probe_options);
  running.probe->Start();
  return running;
}

int RunWorker(const WorkerFlags& flags) {
  SignalWatcher signals;
  RealClock clock;
  auto settings = ReadWorkerFlags(flags);
  if (!settings) {
    spdlog::error("{}", settings.error().message);
    return 2;
  }
  worker::WorkerOptions& options = settings->options;

  // Before the executors: the microVM accelerator probe may still report into it while they
  // are destroyed.
  metrics::Registry registry;
  worker::WorkerMetrics metrics(registry);

  auto process_options = ReadProcessFlags(flags, options);
  if (!process_options) {
    spdlog::error("{}", process_options.error().message);
    return 2;
  }
  auto vm_options = ReadMicroVmFlags(flags, metrics);
  if (!vm_options) {
    spdlog::error("{}", vm_options.error().message);
    return 2;
  }
  WorkerExecutors executors(clock, *process_options, *vm_options);
  if (Status usable = executors.SandboxEveryRun(flags.sandbox); !usable) {
    spdlog::error("{}", usable.error().message);
    return 1;
  }

  LoopHealth health(clock, "not subscribed yet");
  auto server = StartAdminServer(registry, flags.metrics_addr, health.Probes());
  if (!server) {
    spdlog::error("{}", server.error().message);
    return 1;
  }
  EnsureWorkerTopics(flags, settings->clock_probe_interval.count() > 0);
  const std::string id = "krond-worker-" + flags.cluster + "-" + ProcessId();
  auto client = flags.kafka.Client(id);
  if (!client) {
    spdlog::error("{}", client.error().message);
    return 2;
  }
  if (Status limited = ApplyMessageLimit(*client, options); !limited) {
    spdlog::error("{}", limited.error().message);
    return 2;
  }
  kafka::ProducerOptions producer_options;
  producer_options.on_error = [&](const std::string&) { metrics.kafka_errors.Inc(); };
  auto producer = kafka::NewRdKafkaProducer(*client, producer_options);
  if (!producer) {
    spdlog::error("{}", producer.error().message);
    return 1;
  }
  ForwardingListener forward;
  auto consumer =
      kafka::NewRdKafkaConsumer(*client, TaskConsumerOptions(flags, options, forward, metrics));
  if (!consumer) {
    spdlog::error("{}", consumer.error().message);
    return 1;
  }
  // Runs dispatched ahead of their instant (issue 20) are held until it; at the instant the
  // worker asks the gate whether their job was paused or removed meanwhile (docs/control.md,
  // "Held runs"). A follower keeps the gate current on a thread of its own, from the control
  // and catalog topics, which a group of this process's own reads from their beginning; until
  // it has read them to their end, due held runs wait (at most --control-wait).
  const messages::TopicNames names = flags.kafka.Topics();
  control::RunGate gate(names.Control(), names.Jobs());
  auto control_consumer = NewControlConsumer(flags, id, metrics);
  if (!control_consumer) {
    spdlog::error("{}", control_consumer.error().message);
    return 1;
  }
  control::ControlFollower follower(**control_consumer, gate,
                                    [&metrics] { metrics.kafka_errors.Inc(); });
  if (auto ok = follower.Start(); !ok) {
    spdlog::error("run gate: {}", ok.error().message);
    return 1;
  }
  // Stopped and joined after the worker stops (below), or on any return from here on.
  std::jthread follower_thread([&follower](std::stop_token stop) { follower.Run(stop); });
  options.cancel_early = [&gate](std::string_view job) { return gate.CancelReason(job); };
  options.gate_ready = [&gate] { return gate.ready(); };
  worker::Worker worker(clock, **consumer, **producer, executors.every_run(), metrics, names,
                        options, executors.sandboxed(), executors.microvm_runs());
  forward.target = &worker;
  if (auto ok = worker.Start(); !ok) {
    spdlog::error("{}", ok.error().message);
    return 1;
  }
  RunningClockProbe clock_probe;
  if (settings->clock_probe_interval.count() > 0) {
    clock_probe =
        StartClockProbe(clock, flags, *client, id, settings->clock_probe_interval, metrics);
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
  if (clock_probe.probe) clock_probe.probe->Stop();
  worker.Stop();
  forward.target = nullptr;
  follower_thread.request_stop();
  follower_thread.join();
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
      sub.add_option("--warm-shells", flags->warm_shells,
                     "Shells started ahead of their runs, so a due run starts without a "
                     "spawn (default: --slots, at most 64; 0: spawn every run)")
          ->check(CLI::Range(0, 1024));
      sub.add_option("--sandbox", flags->sandbox,
                     "Isolation of every run: none, bubblewrap or microvm (jobs may ask for "
                     "more with `sandbox:`)")
          ->check(CLI::IsMember({"none", "bubblewrap", "microvm"}))
          ->capture_default_str();
      sub.add_option("--microvm-image", flags->microvm_image,
                     "Directory with vmlinuz and initrd.img from scripts/microvm-image")
          ->capture_default_str();
      sub.add_option("--microvm-accelerator", flags->microvm_accelerator,
                     "auto (KVM if a probe guest boots, else TCG), kvm or tcg")
          ->check(CLI::IsMember({"auto", "kvm", "tcg"}))
          ->capture_default_str();
      sub.add_option("--microvm-memory", flags->microvm_memory,
                     "Memory of a microVM whose job sets none")
          ->capture_default_str();
      sub.add_option("--microvm-vcpus", flags->microvm_vcpus,
                     "Virtual CPUs of a microVM whose job sets none")
          ->check(CLI::Range(1, 16))
          ->capture_default_str();
      sub.add_option("--drain-timeout", flags->drain_timeout,
                     "On SIGTERM, how long running commands may finish")
          ->capture_default_str();
      sub.add_option("--flush-timeout", flags->flush_timeout,
                     "On SIGTERM, how long unpublished results may take once no command runs "
                     "(what Kafka has not acknowledged by then is redelivered)")
          ->capture_default_str();
      sub.add_option("--max-early", flags->max_early,
                     "Runs held until their scheduled time (sent ahead of it) before the worker "
                     "stops fetching")
          ->check(CLI::Range(size_t{1}, size_t{1'000'000}))
          ->capture_default_str();
      sub.add_option("--max-hold-ahead", flags->max_hold_ahead,
                     "Longest a run that arrived early is held (one further ahead starts then)")
          ->capture_default_str();
      sub.add_option("--control-wait", flags->control_wait,
                     "How long a held run waits past its scheduled time for this worker to have "
                     "read the control and catalog topics (pauses, removals) after it started; "
                     "one still waiting then is skipped, never run")
          ->capture_default_str();
      sub.add_option("--clock-probe-interval", flags->clock_probe_interval,
                     "How often to estimate this host's clock offset from the Kafka broker's "
                     "(krond_worker_clock_offset_seconds; runs start on this host's clock) "
                     "through the <prefix>.clock topic (0: never)")
          ->capture_default_str();
      sub.add_option("--max-timeout", flags->max_timeout,
                     "Upper bound on any job's timeout (longer ones are cut to it)")
          ->capture_default_str();
      sub.add_option("--kill-grace", flags->kill_grace,
                     "After a timeout or cancel: SIGTERM, then SIGKILL after this long")
          ->capture_default_str();
      sub.add_option("--output-tail", flags->output_tail_kib,
                     "KiB of output (the end) kept and published per run")
          ->check(CLI::Range(0, 64 * 1024))
          ->capture_default_str();
      sub.add_option("--limit-cpu", flags->limit_cpu,
                     "RLIMIT_CPU of every run, in CPU seconds (0: no limit)")
          ->capture_default_str();
      sub.add_option("--limit-memory", flags->limit_memory,
                     "RLIMIT_AS (address space) of every run, e.g. 512MiB (default: no limit)");
      sub.add_option("--limit-files", flags->limit_files,
                     "RLIMIT_NOFILE of every run (0: no limit)")
          ->capture_default_str();
      sub.add_option("--limit-procs", flags->limit_procs,
                     "RLIMIT_NPROC of every run; per uid, ignored for root (0: no limit)")
          ->capture_default_str();
      sub.add_option("--max-load", flags->max_load,
                     "Take no new runs while the 1-minute load average per CPU is above this "
                     "(0: off)")
          ->check(CLI::NonNegativeNumber)
          ->capture_default_str();
      sub.add_option("--run-guard", flags->run_guard,
                     "krond-guard, which kills a run's processes when this worker dies: auto "
                     "(next to krond), a path, or none")
          ->capture_default_str();
      sub.add_option("--metrics-addr", flags->metrics_addr,
                     "HOST:PORT for /metrics, /healthz, /readyz (port 0 picks a free one)")
          ->capture_default_str();
      sub.add_option("--task-public-keys,--trusted-keys", flags->task_public_keys,
                     "File of trusted public keys, one per line (krond keygen; repeatable): "
                     "every task must be signed by one of them or it is refused, never run. "
                     "Without: tasks are run unverified (docs/security.md)")
          ->check(CLI::ExistingFile);
      sub.add_option("--run-as", flags->run_as,
                     "User that commands of jobs without `user:` run as (the cluster's default; "
                     "needs a root worker and krond-guard). Default: this worker's user");
      sub.add_flag("--allow-root", flags->allow_root,
                   "Let a worker running as root run commands as root (by default it refuses "
                   "runs without a user: or --run-as)")
          ->envname("KROND_ALLOW_ROOT");
      sub.add_option("--pass-env", flags->pass_env,
                     "Also pass this variable of the worker's environment to commands "
                     "(repeatable; by default only PATH, HOME, USER, LOGNAME, SHELL, LANG, "
                     "LANGUAGE, LC_*, TZ, TMPDIR)");
      sub.add_option("--instance-id", flags->instance_id,
                     "Static group membership: a worker restarted with the same id within "
                     "the session timeout (6 s) keeps its partitions, without a rebalance. "
                     "Unique per worker of a cluster and queue, e.g. a StatefulSet pod name "
                     "(docs/operations.md)")
          ->envname("KROND_WORKER_INSTANCE_ID");
      flags->kafka.Add(sub);
      return [flags] { return RunWorker(*flags); };
    }});

}  // namespace
}  // namespace krond::app
