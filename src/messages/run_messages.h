#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "common/utf8.h"

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

// What a decoder accepts. Messages are read from topics anyone with access can write, so
// every number is range-checked before it is narrowed or used, and a message outside these
// bounds is `invalid` (docs/messages.md, "Limits").
//
// Attempts of one run: the job file's retry.max_attempts limit.
inline constexpr int kMaxAttempts = 100;
// Any duration field (timeout_ms, starting_deadline_ms, backoff_ms, max_backoff_ms): the
// longest duration a job file can give (ParseDuration's 10 years).
inline constexpr int64_t kMaxDurationMs = int64_t{10} * 366 * 24 * 3600 * 1000;
// retry.multiplier and retry.jitter: the job file's ranges.
inline constexpr double kMinMultiplier = 1.0;
inline constexpr double kMaxMultiplier = 10.0;
inline constexpr double kMaxJitter = 1.0;
// microvm.memory_mib and microvm.vcpus: the job file's ranges (0: the worker's default).
inline constexpr uint32_t kMinVmMemoryMib = 64;
inline constexpr uint32_t kMaxVmMemoryMib = 16 * 1024;
inline constexpr uint32_t kMaxVmVcpus = 16;
// A command: the job file's limit (config::kMaxCommandBytes), so that any task the
// scheduler makes fits in one Kafka message even when every byte needs a \u escape.
inline constexpr size_t kMaxCommandBytes = 64 * 1024;
// A task's env: names and values together, the job file's limit (config::kMaxEnvBytes).
inline constexpr size_t kMaxEnvBytes = 16 * 1024;
// run_id, job, cluster, worker and the other short strings.
inline constexpr size_t kMaxNameBytes = 256;
// Longest decode error kept (an error may quote the input).
inline constexpr size_t kMaxErrorBytes = 512;

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
  // The job's `user:`: who the command runs as on the worker. Empty: the worker's --run-as
  // (docs/security.md, "Commands run with least privilege"). Omitted from the JSON when empty.
  std::string user;
  // The job's `env:`: variables set for the command, over the worker's allow-list, as (name,
  // value) sorted by name. Names are IsValidEnvName and never KROND_* (a message with one is
  // invalid: the KROND_* variables are the run's identity), at most kMaxEnvBytes in all.
  // Omitted from the JSON when empty.
  std::vector<std::pair<std::string, std::string>> env;
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

// A bounded copy of bytes that could not be decoded (a poison message): its first bytes,
// base64-encoded so that any byte survives JSON, and the original length.
struct RawCopy {
  std::string bytes;  // the first min(original_bytes, kMaxRawCopyBytes) bytes
  int64_t original_bytes = 0;
  bool truncated() const { return static_cast<int64_t>(bytes.size()) < original_bytes; }
};
// At most this much of an undecodable message is kept in its dead letter (as base64, 4/3 of
// it): enough to see what it was, small enough that the dead letter always fits a message.
inline constexpr size_t kMaxRawCopyBytes = 16 * 1024;
RawCopy CopyRaw(std::string_view bytes, size_t max_bytes = kMaxRawCopyBytes);

// A run that exhausted its attempts (or could not be decoded): the value of a message on
// <prefix>.dead.<cluster>. Holds the last task as sent and the last result.
struct DeadLetter {
  std::optional<TaskMessage> task;  // absent if the original could not be decoded
  // The signed-task envelope the task came in (messages/signed_task.h), without its outside
  // fields: what `krond dead replay` re-publishes, since nothing without the private key can
  // sign the task again. Absent for unsigned tasks, and when the task was too large.
  std::optional<std::string> signed_task;
  // The original message when task is absent (written as raw_base64 + raw_bytes). Dead
  // letters written before v1 had a "raw" string instead; it is read into `raw.bytes`.
  RawCopy raw;
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

// Encodes within `max_bytes` (a Kafka message's limit), giving up what matters least first:
// the result's output_tail is cut from the front (the end of the output is kept, and
// output_bytes still counts all of it); a dead letter's result loses its output_tail, and if
// the task alone is still too large, the task is replaced by a RawCopy of its encoding.
// Requires: max_bytes >= kMinMessageBudget (what a result without output, or a dead letter
// without task and output, always fits in: every other field is bounded).
inline constexpr size_t kMinMessageBudget = 64 * 1024;
std::string EncodeWithin(const ResultMessage& m, size_t max_bytes);
std::string EncodeWithin(const DeadLetter& m, size_t max_bytes);

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

// Replace invalid UTF-8 with U+FFFD so any output can travel in JSON; cut text at a
// character boundary (common/utf8.h).
using krond::SanitizeUtf8;
using krond::TruncateUtf8;

// A random (version 4) UUID, e.g. "1b4e28ba-2fa1-11d2-883f-0016d3cca427".
std::string NewRunId();

}  // namespace krond::messages
