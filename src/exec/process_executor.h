#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "exec/executor.h"
#include "exec/spawn.h"
#include "exec/warm_shell_pool.h"

namespace krond::exec {

struct ProcessExecutorOptions {
  // util-linux prlimit(1), used to apply RunSpec::limits (see below). Default:
  // /usr/bin/prlimit (Debian's util-linux is Essential, so it is always there).
  std::string prlimit_path = "/usr/bin/prlimit";
  // After the command exits, how long to keep reading output that is still in flight before
  // closing the pipe. Bounds the wait when an escaped daemon (setsid) keeps the pipe open.
  // Default: 100 ms.
  std::chrono::milliseconds drain_after_exit{100};
  // Wait for exit on a pidfd (Linux >= 5.3). When false, or when pidfd_open fails, exit is
  // noticed by polling waitpid(WNOHANG) every 10 ms. Default: true; false exists to test
  // the fallback.
  bool use_pidfd = true;
  // Shells kept started ahead of their runs (WarmShellPool): a `/bin/sh -c` run without
  // limits or cwd then starts by handing its command to a ready shell instead of spawning
  // one. Default: 0 (every run is spawned).
  std::size_t warm_shells = 0;
  // krond-guard (src/guard), so that every command dies with this process: when the process
  // ends, however it ends, the run's process group is SIGKILLed within milliseconds, by the
  // command's own guard (spawned runs, and warm shells of another user) or by the one
  // `krond-guard --watch-groups` that watches the warm shells' groups. Default: empty (no
  // guard; the command is a direct child).
  std::string guard_path;
  // Makes this process a child subreaper (BecomeChildSubreaper) and reaps, every
  // `reap_interval`, the exited children it did not start: orphans of commands (a daemon that
  // escaped its run with setsid), which would otherwise stay zombies until the worker exits
  // (or forever, when the worker is a container's PID 1). One executor per process at most.
  // Default: false.
  bool reap_orphans = false;
  std::chrono::milliseconds reap_interval{500};
  // The environment runs start from (RunSpec::inherit_env) and warm shells are started with.
  // Default: unset = this process's whole environment. The worker passes the allow-listed
  // part of its own (FilterEnvironment), so that its secrets never reach a command.
  std::optional<std::vector<std::string>> environment;
  // The user warm shells run as (a RunSpec::user): only runs of that user are handed to one,
  // runs of any other user are spawned. Default: empty = this process's user. An unknown
  // user leaves the pool off (and reports it on stderr).
  std::string warm_shell_user;
  // Refuse a RunSpec::user that resolves to uid 0 (Refusal::kRoot): a worker that refuses to
  // run commands as root must not be talked into it by another name for root (e.g. toor).
  // Default: false.
  bool refuse_uid0_user = false;
};

// Runs a command as a direct child of the worker, without a sandbox (RunSpec::sandbox is
// ignored). The one place in krond that spawns processes.
//
// How a run goes (details and rationale in docs/execution.md):
//  - posix_spawn, never fork: glibc implements it with clone(CLONE_VM|CLONE_VFORK), so
//    spawning from a large multi-threaded worker neither copies page tables nor runs
//    non-async-signal-safe code in a forked copy of a threaded process.
//  - The child gets its own process group (POSIX_SPAWN_SETPGROUP), an empty signal mask and
//    default dispositions for every signal (the worker may block or ignore some), stdin
//    from /dev/null, stdout and stderr on one pipe, and no other descriptor
//    (closefrom(3)): descriptors other slots open concurrently never leak into it.
//  - Resource limits cannot be set by posix_spawn, and setting them on the worker around
//    the spawn would race with other slots, while prlimit(2) on the child after spawn races
//    with the child itself (it could exec and allocate or fork first). So the argv is
//    wrapped as `prlimit --cpu=S:S+1 --as=B ... -- argv`: prlimit(1) sets the limits on
//    itself and then execs the command, so the limits are in place before the first
//    instruction of the command and the pid we track is the command's. The cost is one
//    extra exec, paid only when limits are set.
//  - A poll() loop reads output into an OutputTail and waits on a pidfd (waitpid polling
//    every 10 ms on kernels without pidfd_open), the CancelToken and the deadline.
//  - Timeout or cancel: SIGTERM to the group, SIGKILL to the group after kill_grace.
//  - When the command exits, any member of its group still alive is SIGKILLed and reported
//    (descendants_killed); output still in flight is drained for at most drain_after_exit.
//  - The command is reaped with waitpid(pid), and orphans of its group with
//    waitpid(-pgid), never waitpid(-1), so concurrent runs never steal each other's exit
//    status. Orphans are reparented to init, which must reap them, unless the worker calls
//    BecomeChildSubreaper(); then they are reparented to the worker and Run() reaps the
//    ones still in the group before returning (within drain_after_exit), and reap_orphans
//    reaps those that left the group (internal::ReapOrphans never takes a child a run
//    waits for).
//  - With RunSpec::user, the user is resolved here (LookupUser) and krond-guard switches to it
//    between its fork and the exec (setgroups, setgid, setuid, checked, and setuid(0) must
//    then fail); HOME, USER and LOGNAME are the user's. Needs guard_path.
//  - With guard_path, the command runs under krond-guard, which leads its process group and
//    kills it when the worker dies (a worker SIGKILLed mid-run leaves nothing running to
//    overlap with the redelivered run); it exits as the command does, so nothing above
//    changes. Warm shells of the worker's user are not each under a guard: one watcher
//    (internal::GroupWatch) kills their groups instead, from the shell's start until its run
//    has ended, so a run handed to one costs one process, not two. Those of another user
//    (warm_shell_user) are under the guard, which switches the user.
//
// Limits of process-group tracking: a descendant that calls setsid() or setpgid() leaves
// the group and survives. Closing that hole needs a cgroup (cgroup.kill) or a PID namespace
// (BubblewrapExecutor has one); see docs/execution.md for why this host has no usable cgroup.
//
// Requirements on the host process: nothing else may reap children it did not spawn
// (waitpid(-1), SIGCHLD set to SIG_IGN), and nothing may call setenv() while runs start
// (the environment is copied at spawn).
//
// Thread-safe: Run() may be called concurrently; it keeps no state between runs. `clock`
// (timestamps and deadlines; must be a real clock, processes run in real time) must
// outlive the executor.
class ProcessExecutor final : public Executor {
 public:
  explicit ProcessExecutor(const Clock& clock, ProcessExecutorOptions options = {});
  ~ProcessExecutor() override;

  RunOutcome Run(const RunSpec& spec, CancelToken& cancel) override;
  // Hands an eligible command to a warm shell at once; anything else runs in Wait().
  std::unique_ptr<PendingRun> Begin(RunSpec spec, CancelToken& cancel) override;

  // Makes this process a child subreaper (prctl PR_SET_CHILD_SUBREAPER): orphans of the
  // commands are reparented to it instead of to init. Process-wide. An orphan that left its
  // process group is then reaped only by reap_orphans (which calls this).
  [[nodiscard]] static Status BecomeChildSubreaper();

  // The argv actually executed for `spec`: spec.argv, wrapped in prlimit(1) if limits are
  // set. Exposed for tests and for logging.
  std::vector<std::string> EffectiveArgv(const RunSpec& spec) const;

  // Warm shells ready now (0 without a pool).
  std::size_t WarmShellsReady() const { return pool_ != nullptr ? pool_->Ready() : 0; }

 private:
  // A started command: its pid (also its process group), a pidfd (or -1) and the read end
  // of its output pipe.
  struct Child {
    pid_t pid = 0;
    internal::UniqueFd pidfd;
    internal::UniqueFd output;
  };
  // Hands the command to a warm shell; an error when the spec is not eligible, none is
  // ready or the shell died while idle. Sets the start times.
  Result<Child> StartWarm(const RunSpec& spec, RunOutcome& outcome);
  // posix_spawn of EffectiveArgv(spec). Sets the start times.
  Result<Child> Spawn(const RunSpec& spec, RunOutcome& outcome);
  // Waits for a started command: output, timeout, cancel, reaping (the rest of Run()).
  RunOutcome Supervise(const RunSpec& spec, CancelToken& cancel, Child child, RunOutcome outcome);
  RunOutcome Finish(RunOutcome outcome, OutcomeKind kind, std::string error) const;

  class StartedRun;
  class Supervision;

  void ReapLoop();

  const Clock& clock_;
  const ProcessExecutorOptions options_;
  // The pipe krond-guard watches: only this process holds the write end.
  internal::UniqueFd guard_read_, guard_write_;
  internal::Guard guard_;
  // Watches the warm shells' groups when there is a guard (declared before the pool, which
  // uses it until its destructor has ended its idle shells).
  std::unique_ptr<internal::GroupWatch> group_watch_;
  std::unique_ptr<WarmShellPool> pool_;  // null without warm shells
  std::mutex reap_mu_;
  std::condition_variable reap_wake_;
  bool reap_stop_ = false;  // guarded by reap_mu_
  std::thread reaper_;
};

}  // namespace krond::exec
