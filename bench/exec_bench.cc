// Executions per second of /bin/true: through exec::ProcessExecutor (what a worker slot
// does), next to the bare minimum the kernel allows on the same machine (posix_spawn +
// waitpid, vfork + execve + waitpid), with 1, 2, 4 and 8 threads spawning at once.
// Run: build-release/bench/exec_bench (see docs/benchmarks.md, "Worker execution rate").
#include <benchmark/benchmark.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "common/clock.h"
#include "exec/cancel_token.h"
#include "exec/process_executor.h"

extern char** environ;

namespace krond::exec {
namespace {

const RealClock kClock;

ProcessExecutor& Executor() {
  static ProcessExecutor executor(kClock);
  return executor;
}

void RunThrough(benchmark::State& state, std::vector<std::string> argv) {
  RunSpec spec;
  spec.argv = std::move(argv);
  spec.timeout = std::chrono::seconds(10);
  CancelToken token;
  for (auto _ : state) {
    RunOutcome outcome = Executor().Run(spec, token);
    if (outcome.kind != OutcomeKind::kSucceeded) {
      state.SkipWithError(
          ("run failed: " + std::string(ToString(outcome.kind)) + " " + outcome.error).c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}

// A worker slot running argv {"/bin/true"}: pipe, posix_spawn into a process group, pidfd,
// poll loop, reap, group sweep.
void BM_ProcessExecutor_True(benchmark::State& state) { RunThrough(state, {"/bin/true"}); }

// What a worker actually runs for the command `true`: /bin/sh -c true.
void BM_ProcessExecutor_ShTrue(benchmark::State& state) {
  RunThrough(state, {"/bin/sh", "-c", "true"});
}

// The same under krond-guard, as `krond worker` runs every command: one more exec (of the
// small static guard) and a fork.
void BM_ProcessExecutor_ShTrueGuarded(benchmark::State& state) {
  static ProcessExecutor guarded(kClock, [] {
    ProcessExecutorOptions options;
    options.guard_path = KROND_GUARD_PATH;
    return options;
  }());
  RunSpec spec;
  spec.argv = {"/bin/sh", "-c", "true"};
  spec.timeout = std::chrono::seconds(10);
  CancelToken token;
  for (auto _ : state) {
    RunOutcome outcome = guarded.Run(spec, token);
    if (outcome.kind != OutcomeKind::kSucceeded) {
      state.SkipWithError(("run failed: " + outcome.error).c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}

// The same with rlimits set: one extra exec of prlimit(1).
void BM_ProcessExecutor_TrueWithRlimits(benchmark::State& state) {
  RunSpec spec;
  spec.argv = {"/bin/true"};
  spec.limits.open_files = 1024;
  CancelToken token;
  for (auto _ : state) {
    RunOutcome outcome = Executor().Run(spec, token);
    if (outcome.kind != OutcomeKind::kSucceeded) {
      state.SkipWithError("run failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}

// The floor: glibc posix_spawn (clone(CLONE_VM|CLONE_VFORK)) + waitpid, nothing else.
void BM_PosixSpawnWaitpid(benchmark::State& state) {
  char arg0[] = "/bin/true";
  char* argv[] = {arg0, nullptr};
  for (auto _ : state) {
    pid_t pid = 0;
    if (posix_spawn(&pid, "/bin/true", nullptr, nullptr, argv, environ) != 0) {
      state.SkipWithError("posix_spawn failed");
      break;
    }
    int status = 0;
    waitpid(pid, &status, 0);
  }
  state.SetItemsProcessed(state.iterations());
}

// The floor by hand: vfork + execve + waitpid.
void BM_VforkExecWaitpid(benchmark::State& state) {
  char arg0[] = "/bin/true";
  char* argv[] = {arg0, nullptr};
  for (auto _ : state) {
    const pid_t pid = vfork();
    if (pid == 0) {
      execve("/bin/true", argv, environ);
      _exit(127);
    }
    if (pid < 0) {
      state.SkipWithError("vfork failed");
      break;
    }
    int status = 0;
    waitpid(pid, &status, 0);
  }
  state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_ProcessExecutor_True)->ThreadRange(1, 8)->UseRealTime()->MinTime(1.0);
BENCHMARK(BM_ProcessExecutor_ShTrue)->ThreadRange(1, 8)->UseRealTime()->MinTime(1.0);
BENCHMARK(BM_ProcessExecutor_ShTrueGuarded)->ThreadRange(1, 8)->UseRealTime()->MinTime(1.0);
BENCHMARK(BM_ProcessExecutor_TrueWithRlimits)->Threads(1)->UseRealTime()->MinTime(1.0);
BENCHMARK(BM_PosixSpawnWaitpid)->ThreadRange(1, 8)->UseRealTime()->MinTime(1.0);
BENCHMARK(BM_VforkExecWaitpid)->ThreadRange(1, 8)->UseRealTime()->MinTime(1.0);

}  // namespace
}  // namespace krond::exec
