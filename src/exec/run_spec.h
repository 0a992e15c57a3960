#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

namespace krond::exec {

// Resource limits applied to the command (and inherited by everything it starts). Each is
// unset by default, meaning "inherit the worker's limit". See docs/execution.md for why
// they are applied through prlimit(1) and why RLIMIT_NPROC does nothing for root.
struct ResourceLimits {
  // RLIMIT_CPU in seconds of CPU time. The soft limit sends SIGXCPU; the hard limit is one
  // second later and sends SIGKILL, for commands that ignore SIGXCPU. Requires: > 0.
  std::optional<std::uint64_t> cpu_seconds;
  // RLIMIT_AS: virtual address space in bytes; allocations beyond it fail (ENOMEM).
  // Requires: > 0. Note it limits address space, not resident memory.
  std::optional<std::uint64_t> address_space_bytes;
  // RLIMIT_NOFILE: one more than the highest file descriptor number. Requires: > 0.
  std::optional<std::uint64_t> open_files;
  // RLIMIT_NPROC: processes of the command's real uid, counted across the whole host.
  // Ignored by the kernel for root and CAP_SYS_RESOURCE. Requires: > 0.
  std::optional<std::uint64_t> processes;
  // RLIMIT_FSIZE: largest file the command may write, in bytes; beyond it SIGXFSZ.
  std::optional<std::uint64_t> file_size_bytes;

  bool Empty() const {
    return !cpu_seconds && !address_space_bytes && !open_files && !processes && !file_size_bytes;
  }
};

// Per-run sandbox policy. Honoured by BubblewrapExecutor; ProcessExecutor runs without a
// sandbox and ignores it (the worker picks the executor, so a job that requires a sandbox
// must be routed to one).
struct SandboxSpec {
  // Keep the host's network namespace. Default: false (the sandbox has only a loopback
  // interface that is down). In a microVM: give the VM a user-mode NIC (MicroVmExecutor).
  bool allow_network = false;
  // Size of a microVM in MiB and its virtual CPUs (MicroVmExecutor; ignored elsewhere).
  // Default: 0 = the executor's default (256 MiB, 1 vCPU).
  std::uint32_t vm_memory_mib = 0;
  std::uint32_t vm_vcpus = 0;
};

// What to run. A plain struct: set the fields you need, then Validate(). (GCC 12 warns
// about designated initializers that omit fields, so prefer assignments.)
struct RunSpec {
  // The program and its arguments; argv[0] is a path or a name looked up in the worker's
  // PATH. The worker passes {"/bin/sh", "-c", command}. Requires: non-empty, argv[0]
  // non-empty, no element containing NUL.
  std::vector<std::string> argv;
  // Variables added to (or replacing those in) the environment, e.g. a job's env: and
  // KROND_RUN_ID, KROND_JOB, KROND_ATTEMPT; the caller supplies them. They win over the base
  // environment and over `user`'s HOME, USER and LOGNAME. Default: none.
  // Requires: names non-empty and without '='.
  std::vector<std::pair<std::string, std::string>> env;
  // Start from the executor's base environment (ProcessExecutorOptions::environment: the
  // worker's, or its allow-listed part). Default: true. When false, the command sees only
  // `env`.
  bool inherit_env = true;
  // The user to run as: a name in the worker's user database, resolved at spawn (an unknown
  // one is kSpawnFailed with Refusal::kUnknownUser, never a run as someone else). The child
  // takes its uid, gid and groups (krond-guard: setgroups, setgid, setuid, then checks that
  // setuid(0) fails) and, in the inherited environment, HOME, USER and LOGNAME. Default: empty =
  // the worker's own user. Requires: a valid user name (IsValidUserName); ProcessExecutor with a
  // guard.
  std::string user;
  // Working directory. Default: empty = the worker's. A missing directory is kSpawnFailed.
  std::string cwd;
  // Wall-clock budget measured on the monotonic clock from spawn. Default: 0 = none.
  // Requires: >= 0.
  std::chrono::milliseconds timeout{0};
  // After a timeout or a cancel the process group gets SIGTERM, then SIGKILL once this has
  // passed. Default: 5 s. Requires: >= 0 (0 = SIGKILL at once after SIGTERM).
  std::chrono::milliseconds kill_grace{std::chrono::seconds(5)};
  // Bytes of merged stdout+stderr to keep (the end of the stream). Default: 16 KiB.
  // Requires: <= 64 MiB.
  std::size_t output_tail_bytes = 16 * 1024;
  ResourceLimits limits;
  SandboxSpec sandbox;

  [[nodiscard]] Status Validate() const;
};

enum class OutcomeKind {
  kSucceeded,       // Exited with status 0.
  kFailed,          // Exited with a non-zero status (exit_code).
  kTimedOut,        // The timeout expired and we killed the group (whatever it then did).
  kKilledBySignal,  // Died of a signal we did not send (signal), e.g. SIGSEGV, SIGXCPU.
  kSpawnFailed,     // Could not be started: bad spec, missing binary or cwd, no pipes...
  kCancelled,       // The CancelToken fired and we killed the group.
  kBootFailed,      // A microVM did not get as far as starting the command (MicroVmExecutor).
};

// How a microVM executes its guest: hardware virtualization, or QEMU's emulator.
enum class Accelerator { kKvm, kTcg };
std::string_view ToString(Accelerator accelerator);

// What MicroVmExecutor adds to an outcome.
struct VmReport {
  Accelerator accelerator = Accelerator::kTcg;
  // Guest uptime when the command started (kernel and agent start-up); absent if unknown.
  std::optional<std::chrono::milliseconds> boot;
};

std::string_view ToString(OutcomeKind kind);

// Why a run was refused before anything started (kSpawnFailed), for metrics.
enum class Refusal : std::uint8_t {
  kNone,
  kRoot,         // it would have run as root on a worker that refuses to (--allow-root)
  kUnknownUser,  // RunSpec::user does not exist on this host
};
std::string_view ToString(Refusal refusal);

// What happened to one run. Every field is meaningful for every kind unless noted.
struct RunOutcome {
  OutcomeKind kind = OutcomeKind::kSpawnFailed;
  // Exit status, or 128 + signal number if the process died of a signal (shell
  // convention); -1 when it never ran (kSpawnFailed, or kCancelled before spawn).
  int exit_code = -1;
  // The signal that ended the process, 0 if it exited.
  int signal = 0;
  // kSpawnFailed: why, e.g. "/no/such/bin: No such file or directory". Empty otherwise.
  std::string error;
  // kSpawnFailed by policy rather than by accident; kNone otherwise.
  Refusal refusal = Refusal::kNone;
  // Process id of the command, which is also its process group id; 0 if never spawned.
  pid_t pid = 0;
  // When Run started and finished (monotonic, for durations), and the wall time at start.
  MonoTime started{};
  MonoTime finished{};
  SystemTime wall_started{};
  // The last RunSpec::output_tail_bytes of merged stdout+stderr. May hold any bytes,
  // including NUL and broken UTF-8: the caller sanitizes before publishing.
  std::string output_tail;
  std::uint64_t output_bytes_total = 0;
  std::uint64_t output_bytes_dropped = 0;
  // Members of the command's process group were still alive after the command exited
  // (daemons, forgotten background jobs) and were SIGKILLed.
  bool descendants_killed = false;
  // Set for runs in a microVM (MicroVmExecutor), absent otherwise.
  std::optional<VmReport> vm;

  std::chrono::milliseconds Duration() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(finished - started);
  }
};

}  // namespace krond::exec
