#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/result.h"
#include "cron/schedule.h"

namespace krond::config {

// The longest command: a run travels in one Kafka message (docs/messages.md, "Size"), and a
// 64 KiB command is at most 384 KiB of JSON even if every byte needs a \u escape.
inline constexpr size_t kMaxCommandBytes = 64 * 1024;
// Anchors and aliases let a small file repeat a large string in many jobs, and every Job
// holds its own copy: the names and commands of a file's jobs may hold at most the file's
// own size plus this much.
inline constexpr size_t kMaxAliasExpansionBytes = 64 * 1024 * 1024;

// The most a job's `env:` may hold, names and values together: it travels in the run's one
// Kafka message with the command (docs/messages.md, "Size"), and with both at their limits
// the signed task still fits in 1 MB.
inline constexpr size_t kMaxEnvBytes = 16 * 1024;

// The longest `dispatch_ahead:` (and scheduler --dispatch-ahead): a worker holds a run this
// long at most before it starts, so it bounds what the worker keeps in memory.
inline constexpr std::chrono::milliseconds kMaxDispatchAhead{60'000};

// A job's `env:`: variables set for its command, as (name, value), sorted by name, names
// unique. Names: IsValidEnvName and not IsReservedEnvName (common/env_name.h).
using Environment = std::vector<std::pair<std::string, std::string>>;

// Retry policy of a job (docs/jobfile.md, docs/retries.md).
struct RetryPolicy {
  // Delay before the second attempt. Default: 2s.
  std::chrono::milliseconds backoff{2000};
  // Cap on any delay. Default: 5m. Requires: >= backoff.
  std::chrono::milliseconds max_backoff{300'000};
  // Growth factor per attempt. Default: 2. Requires: 1..10.
  double multiplier = 2.0;
  // Random spread, +/- this fraction of the delay. Default: 0.2. Requires: 0..1.
  double jitter = 0.2;
  // Total attempts including the first. Default: 1 (no retry). Requires: 1..100.
  // Declared after the 8-byte fields so that it shares their padding with the flags below.
  int max_attempts = 1;
  // Outcomes that are retried. Default: failed (non-zero exit) and timed_out. Flags rather
  // than a list of names: a job file may hold a million jobs, and a vector of strings per
  // job cost about 100 bytes each.
  bool retry_failed = true;
  bool retry_timed_out = true;
  // The same as names, in the order of the wire format: a subset of {failed, timed_out}.
  std::vector<std::string> RetryOn() const;
};

// What happens when a run is due while an earlier run of the same job is still going.
enum class ConcurrencyPolicy : uint8_t { kAllow, kForbid, kReplace };

// Which fires missed while no scheduler was running (downtime, failover) are run late.
// Kubernetes CronJob semantics: see docs/jobfile.md.
enum class CatchUpPolicy : uint8_t { kNone, kLast, kAll };

// How the worker isolates the command (docs/jobfile.md).
enum class SandboxMode : uint8_t { kNone, kBubblewrap, kMicroVm };

// The spelling used in the job file, e.g. "forbid", "last", "bubblewrap".
std::string_view ToString(ConcurrencyPolicy policy);
std::string_view ToString(CatchUpPolicy policy);
std::string_view ToString(SandboxMode mode);

// One job of the job file. Every field is validated by LoadJobFile.
//
// A scheduler holds one per job, up to a million (docs/benchmarks.md, "One million
// schedules"), so the fields are ordered to leave no padding and the small enums share one
// byte as bit-fields: 320 bytes plus whatever strings do not fit in std::string's inline
struct Job {
  // Unique in the file. Requires: [a-z0-9._-], 1..100 chars.
  std::string name;
  // The schedule, already parsed in the job's zone.
  cron::Schedule schedule;
  // IANA zone name, as written. Default: "UTC". Points to storage that lives as long as the
  // process: the names of valid zones are interned (a few hundred at most), so a million
  // jobs in one zone share one copy instead of holding a string each.
  std::string_view timezone = "UTC";
  // Requires: one of JobFile::clusters.
  std::string cluster;
  // `user:`: who the command runs as on the worker (docs/security.md, "Commands run with least
  // privilege"). Default: empty = the worker's --run-as. Requires: a valid user name
  // (IsValidUserName; whether it exists is checked by the worker at run time), sandbox ==
  // kNone when written in the job (a sandbox picks its own uid; one inherited from
  // `defaults:` is dropped for sandboxed jobs). Interned like `timezone`.
  std::string_view user;
  // Run by /bin/sh -c on a worker. Requires: non-empty, at most kMaxCommandBytes.
  std::string command;
  // `env:`: variables added to the command's environment, over the worker's allow-list
  // (docs/security.md, "Commands run with least privilege"); the job's entries over those of
  // `defaults:`, name by name. Default: null = none. Requires: at most kMaxEnvBytes. Shared and
  // immutable: every job that writes no `env:` of its own holds the defaults' copy.
  std::shared_ptr<const Environment> env;
  // Kill the run after this long. Default: 1h (documented).
  std::chrono::milliseconds timeout{3'600'000};
  RetryPolicy retry;
  // A fire that cannot start within this long of its scheduled time is skipped (counted as
  // missed), whether it was missed during downtime or delayed. Default: unset (no limit).
  // Requires: positive.
  std::optional<std::chrono::milliseconds> starting_deadline;
  // `dispatch_ahead:`: how long before its scheduled instant the scheduler publishes a run
  // (docs/architecture.md, "Dispatch ahead"). Default: unset = the scheduler's
  // --dispatch-ahead. Requires: 0..kMaxDispatchAhead. 32-bit milliseconds, not
  // std::chrono::milliseconds: the optional takes 8 bytes instead of 16, which a million jobs
  // notice, and needs no sentinel.
  std::optional<std::chrono::duration<int32_t, std::milli>> dispatch_ahead;
  // Where it was defined, for messages: line of the `- name:` entry (1-based).
  int line = 0;
  // Overlapping runs of the same job. Default: allow.
  ConcurrencyPolicy concurrency : 2 = ConcurrencyPolicy::kAllow;
  // Fires missed while no scheduler ran: none (skip them), last (run the latest one once) or
  // all (run each, oldest first). Default: last.
  CatchUpPolicy catch_up : 2 = CatchUpPolicy::kLast;
  // Default: none (the command runs as the worker's user with its full view of the host).
  SandboxMode sandbox : 2 = SandboxMode::kNone;
  // Whether a sandboxed command may use the network. Default: false.
  // Requires: sandbox != kNone when true (unsandboxed commands always have it).
  bool network : 1 = false;
  // `microvm: {vcpus, memory}`: the VM's virtual CPUs and memory in MiB.
  // Default: 0 = the worker's default (1 vCPU, 256 MiB). Requires: sandbox == kMicroVm when
  // set; vcpus 1..16, memory 64 MiB..16 GiB in whole MiB.
  uint8_t microvm_vcpus = 0;
  uint16_t microvm_memory_mib = 0;
};

struct JobFile {
  // As given to LoadJobFile/ParseJobFile.
  std::string path;
  // Non-empty, unique, in file order. Requires: [a-z0-9._-], 1..100 chars (topic names).
  std::vector<std::string> clusters;
  // In file order; names are unique.
  std::vector<Job> jobs;
};

// One problem found in a job file, with its position (1-based line and column).
struct Problem {
  std::string file;
  int line = 0;
  int column = 0;
  std::string message;
  // "file:line:column: message", or "file: message" when line is 0 (unreadable file).
  std::string ToString() const;
};

// Parses and validates YAML text. Reports EVERY problem found (not just the first), sorted by
// position. `path` is used in messages only. Never throws; safe on arbitrary bytes. Text that
// is not valid UTF-8, or holds a NUL byte, is rejected with the position of each bad byte
// (up to 10) before anything else is checked.
//
// Memory: the YAML is read as a stream, one job at a time, so loading holds little more
// than the resulting Jobs and the text itself. When `clusters` or `defaults` come after
// `jobs`, the text is read a second time for the jobs.
[[nodiscard]] tl::expected<JobFile, std::vector<Problem>> ParseJobFile(std::string_view text,
                                                                       std::string_view path);

// Reads `path` and parses it like ParseJobFile; a missing/unreadable file, or one larger than
// 256 MiB, is one Problem at line 0. A regular file is read through a small buffer, never
// held whole (and read twice when `clusters` or `defaults` come after `jobs`).
[[nodiscard]] tl::expected<JobFile, std::vector<Problem>> LoadJobFile(const std::string& path);

}  // namespace krond::config
