#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

namespace krond::messages {

// The wire format of krond's topics, documented in docs/messages.md. Every message is one
// JSON object with a version field `v`; decoders accept any v <= kVersion and ignore
// unknown fields, so producers can be upgraded before consumers.
inline constexpr int kVersion = 1;

// Why a run exists: its cron schedule (also catch-up after downtime), an operator's "run
// now", a backfill of past instants, or the replay of a dead letter. Messages written
// before the field existed carry none and decode as kSchedule.
enum class Trigger { kSchedule, kManual, kBackfill, kReplay };
std::string_view TriggerName(Trigger t);  // "schedule" | "manual" | "backfill" | "replay"
[[nodiscard]] Result<Trigger> ParseTrigger(std::string_view name);

// How a failed run is retried; carried in the task so workers need no job file.
struct RetrySpec {
  std::chrono::milliseconds backoff{2000};
  std::chrono::milliseconds max_backoff{300'000};
  double multiplier = 2.0;
  double jitter = 0.2;
  std::vector<std::string> retry_on = {"failed", "timed_out"};
};

// One due run of a job: the value of a message on <prefix>.tasks.<cluster> (first attempts)
// or <prefix>.retry.<cluster> (later attempts). The Kafka key is run_id.
struct TaskMessage {
  std::string run_id;  // UUID, the same for every attempt of one run
  std::string job;
  std::string cluster;
  std::string command;  // run with /bin/sh -c
  SystemTime scheduled_at{};
  SystemTime produced_at{};
  // The fire's fencing token, KROND_FENCE for the command: >= 1, greater than the fence of
  // every earlier fire of the same job (and of every fire committed before it), the same
  // for every attempt of one run. Absent in messages of schedulers before it existed.
  std::optional<int64_t> fence;
  int attempt = 1;  // 1-based
  int max_attempts = 1;
  std::chrono::milliseconds timeout{3'600'000};
  // Earliest instant to start this attempt (retries); absent for first attempts.
  std::optional<SystemTime> not_before;
  // The job's starting_deadline: a first attempt that cannot start within this long of
  // scheduled_at is skipped by the worker. Absent: no limit.
  std::optional<std::chrono::milliseconds> starting_deadline;
  RetrySpec retry;
  std::string concurrency = "allow";  // allow | forbid | replace
  std::string sandbox = "none";       // none | bubblewrap | microvm
  bool network = false;
  // The job's `microvm:` size, when it set one (absent: the worker's default).
  struct MicroVm {
    uint32_t memory_mib = 0;
    uint32_t vcpus = 0;
  };
  std::optional<MicroVm> microvm;
  // Set by `krond dead replay`: why and when this run was put back.
  std::optional<std::string> replayed_from;
  Trigger trigger = Trigger::kSchedule;
  // Who asked for a run that was not scheduled (the API token's name, or the CLI user);
  // empty for scheduled runs.
  std::string requested_by;
};

// The partition key of a task message (kafka::Producer::ProduceRouted), wherever it is
// produced (scheduler, retries, `krond dead replay`): the job name, so every run of a job
// goes to one partition of each topic, and one worker at a time owns the job
// (docs/messages.md, "Partitions"). The Kafka key stays the run id.
inline std::string_view PartitionKeyOf(const TaskMessage& task) { return task.job; }

// How an attempt ended. `invalid` is a message that could not be decoded.
enum class Outcome {
  kSucceeded,
  kFailed,
  kTimedOut,
  kKilled,
  kSpawnFailed,
  kCancelled,
  kInvalid,
  kSkipped,
  // The run's microVM did not get as far as starting the command (docs/execution.md).
  kBootFailed
};
std::string_view OutcomeName(Outcome o);
[[nodiscard]] Result<Outcome> ParseOutcome(std::string_view name);

// One attempt's outcome: the value of a message on <prefix>.results, keyed by run_id.
struct ResultMessage {
  std::string run_id;
  std::string job;
  std::string cluster;
  int attempt = 1;
  std::string worker;  // host:pid of the worker
  std::string queue;   // main | retry
  SystemTime scheduled_at{};
  SystemTime started_at{};
  SystemTime finished_at{};
  std::optional<int> exit_code;  // absent when the process never ran or died by signal
  std::optional<int> signal;
  Outcome outcome = Outcome::kSucceeded;
  std::string output_tail;  // last bytes of stdout+stderr, valid UTF-8 (invalid bytes replaced)
  int64_t output_bytes = 0;
  std::string error;  // human-readable reason for anything but success
  // Where the message came from, for `invalid` results: topic/partition/offset.
  std::string source;
  // Copied from the task, so history readers need not join results with tasks.
  Trigger trigger = Trigger::kSchedule;
  std::string requested_by;
  // Runs in a microVM: how it ran. Absent for other runs (and from older workers).
  struct Vm {
    std::string accelerator;         // kvm | tcg
    std::optional<int64_t> boot_ms;  // guest uptime when the command started
  };
  std::optional<Vm> vm;
};

// A run that exhausted its attempts (or could not be decoded): the value of a message on
// <prefix>.dead.<cluster>. Holds the last task as sent and the last result.
struct DeadLetter {
  std::optional<TaskMessage> task;  // absent if the original could not be decoded
  std::string raw;                  // the original message value when task is absent
  ResultMessage last_result;
  std::string reason;
};

// The marker `krond dead replay` and the console append to a dead-letter topic after
// putting a dead letter back, so the same one is not replayed twice by accident.
struct ReplayMarker {
  std::string replay_of;  // the dead letter's position, "topic[partition]@offset"
  std::string run_id;
  SystemTime replayed_at{};
  std::string by;  // who replayed it; may be empty (older markers)
};

std::string Encode(const TaskMessage& m);
std::string Encode(const ResultMessage& m);
std::string Encode(const DeadLetter& m);
std::string Encode(const ReplayMarker& m);

// Decoders return a clear error naming the field, e.g. `field "attempt": expected a number`.
[[nodiscard]] Result<TaskMessage> DecodeTask(std::string_view json);
[[nodiscard]] Result<ResultMessage> DecodeResult(std::string_view json);
[[nodiscard]] Result<DeadLetter> DecodeDeadLetter(std::string_view json);
// Fails (with "not a replay marker") for a dead letter, so readers of a dead-letter topic
// try this first.
[[nodiscard]] Result<ReplayMarker> DecodeReplayMarker(std::string_view json);

// The one way a run comes into being, for the scheduler, the console's "run now" and
// backfill, and replays: the first attempt of a job due at `scheduled_at`, produced `now`.
// `job_fields` carries what comes from the job (job, cluster, command, timeout,
// max_attempts, starting_deadline, retry, concurrency, sandbox, network, microvm);
// everything else is set here: a new run id, attempt 1, no not_before or replayed_from, the
// trigger and who asked. Backfilled and replayed runs drop the starting_deadline: an operator asked
// for that past instant on purpose, so the worker must not skip it as missed.
TaskMessage NewRun(TaskMessage job_fields, SystemTime scheduled_at, SystemTime now,
                   Trigger trigger = Trigger::kSchedule, std::string requested_by = {});

// The task that replays dead letter `letter` (found at `position`): its last task as a
// first attempt again (NewRun with Trigger::kReplay), keeping its run id and scheduled
// instant so history shows the replay as more attempts of the same run. Error when the
// dead letter holds no decodable task.
[[nodiscard]] Result<TaskMessage> ReplayRun(const DeadLetter& letter, std::string_view position,
                                            SystemTime now, std::string requested_by);

// Replaces invalid UTF-8 with U+FFFD so any output can travel in JSON.
std::string SanitizeUtf8(std::string_view bytes);

// A random (version 4) UUID, e.g. "1b4e28ba-2fa1-11d2-883f-0016d3cca427".
std::string NewRunId();

}  // namespace krond::messages
