#include "exec/process_executor.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"

namespace krond::exec {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

RunSpec Argv(std::vector<std::string> argv) {
  RunSpec spec;
  spec.argv = std::move(argv);
  return spec;
}

RunSpec Sh(std::string command) { return Argv({"/bin/sh", "-c", std::move(command)}); }

// Grandchildren we SIGKILL are reaped by init asynchronously, so the group may take a moment
// to disappear after Run() returns.
bool GroupGoneWithin(pid_t pgid, milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (kill(-pgid, 0) != 0 && errno == ESRCH) return true;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return false;
}

struct Mode {
  std::size_t warm_shells = 0;
  bool guarded = false;  // under krond-guard (ProcessExecutorOptions::guard_path)
};

// Without it gtest prints a Mode's raw bytes, padding included, into the test names ctest
// discovers, so they would change from build to build.
void PrintTo(const Mode& mode, std::ostream* os) {
  *os << (mode.guarded ? "guarded, " : "") << mode.warm_shells << " warm shells";
}

// Every test runs four times: spawning each command, and with warm shells (WarmShellPool),
// which must behave the same wherever a spec is eligible; each without and with krond-guard,
// which must change nothing a run can see.
class ProcessExecutorTest : public ::testing::TestWithParam<Mode> {
 protected:
  // Some inits reap orphans only lazily (this CI machine's takes seconds), and their zombies
  // keep the process groups these tests check alive. As a subreaper the test process adopts
  // the orphans and Run() reaps them before returning, which the tests then verify.
  static void SetUpTestSuite() { ASSERT_TRUE(ProcessExecutor::BecomeChildSubreaper()); }

  RunOutcome Run(const RunSpec& spec) {
    CancelToken token;
    return executor_.Run(spec, token);
  }

  static ProcessExecutorOptions Options() {
    ProcessExecutorOptions options;
    options.warm_shells = GetParam().warm_shells;
    if (GetParam().guarded) options.guard_path = KROND_GUARD_PATH;
    return options;
  }

  void SetUp() override {
    // Waits for the pool to fill, so the runs below take warm shells rather than spawning.
    const std::size_t want = GetParam().warm_shells;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (executor_.WarmShellsReady() < want && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(milliseconds(5));
    }
    ASSERT_EQ(executor_.WarmShellsReady(), want);
  }

  RealClock clock_;
  ProcessExecutor executor_{clock_, Options()};
};

INSTANTIATE_TEST_SUITE_P(SpawnedAndWarm, ProcessExecutorTest,
                         ::testing::Values(Mode{0, false}, Mode{2, false}, Mode{0, true},
                                           Mode{2, true}),
                         [](const auto& param_info) {
                           return std::string(param_info.param.guarded ? "Guarded" : "") +
                                  (param_info.param.warm_shells == 0 ? "Spawned" : "WarmShells");
                         });

TEST_P(ProcessExecutorTest, Succeeds) {
  RunOutcome outcome = Run(Sh("true"));
  EXPECT_EQ(outcome.kind, OutcomeKind::kSucceeded);
  EXPECT_EQ(outcome.exit_code, 0);
  EXPECT_EQ(outcome.signal, 0);
  EXPECT_GT(outcome.pid, 0);
  EXPECT_GE(outcome.finished, outcome.started);
  EXPECT_FALSE(outcome.descendants_killed);
  EXPECT_TRUE(outcome.error.empty());
}

TEST_P(ProcessExecutorTest, FailsWithExitCode) {
  RunOutcome outcome = Run(Sh("echo oops >&2; exit 3"));
  EXPECT_EQ(outcome.kind, OutcomeKind::kFailed);
  EXPECT_EQ(outcome.exit_code, 3);
  EXPECT_EQ(outcome.output_tail, "oops\n");  // stderr lands in the merged tail.
}

TEST_P(ProcessExecutorTest, ShellCommandNotFoundIsExit127) {
  RunOutcome outcome = Run(Sh("nonexistent-cmd-krond"));
  EXPECT_EQ(outcome.kind, OutcomeKind::kFailed);
  EXPECT_EQ(outcome.exit_code, 127);
  EXPECT_THAT(outcome.output_tail, HasSubstr("not found"));
}

TEST_P(ProcessExecutorTest, MissingProgramIsSpawnFailed) {
  RunOutcome by_path = Run(Argv({"/no/such/binary"}));
  EXPECT_EQ(by_path.kind, OutcomeKind::kSpawnFailed);
  EXPECT_THAT(by_path.error, HasSubstr("/no/such/binary: No such file or directory"));
  EXPECT_EQ(by_path.pid, 0);
  EXPECT_EQ(by_path.exit_code, -1);

  RunOutcome by_name = Run(Argv({"no-such-program-krond"}));
  EXPECT_EQ(by_name.kind, OutcomeKind::kSpawnFailed);
  EXPECT_THAT(by_name.error, HasSubstr("not found in PATH"));

  RunOutcome directory = Run(Argv({"/tmp"}));
  EXPECT_EQ(directory.kind, OutcomeKind::kSpawnFailed);
}

TEST_P(ProcessExecutorTest, MissingProgramWithLimitsIsStillSpawnFailed) {
  RunSpec spec = Argv({"/no/such/binary"});
  spec.limits.cpu_seconds = 5;
  RunOutcome outcome = Run(spec);
  EXPECT_EQ(outcome.kind, OutcomeKind::kSpawnFailed);
}

TEST_P(ProcessExecutorTest, MissingCwdIsSpawnFailed) {
  RunSpec spec = Sh("true");
  spec.cwd = "/no/such/dir";
  RunOutcome outcome = Run(spec);
  EXPECT_EQ(outcome.kind, OutcomeKind::kSpawnFailed);
  EXPECT_THAT(outcome.error, HasSubstr("/no/such/dir"));
}

TEST_P(ProcessExecutorTest, InvalidSpecIsSpawnFailed) {
  EXPECT_EQ(Run(RunSpec{}).kind, OutcomeKind::kSpawnFailed);
  RunSpec bad_env = Sh("true");
  bad_env.env = {{"A=B", "c"}};
  RunOutcome outcome = Run(bad_env);
  EXPECT_EQ(outcome.kind, OutcomeKind::kSpawnFailed);
  EXPECT_THAT(outcome.error, HasSubstr("invalid run spec"));
}

TEST_P(ProcessExecutorTest, KilledBySignal) {
  RunOutcome outcome = Run(Sh("kill -9 $$"));
  EXPECT_EQ(outcome.kind, OutcomeKind::kKilledBySignal);
  EXPECT_EQ(outcome.signal, SIGKILL);
  EXPECT_EQ(outcome.exit_code, 128 + SIGKILL);
}

TEST_P(ProcessExecutorTest, TimeoutKillsTheWholeGroup) {
  RunSpec spec = Sh("sleep 100 & sleep 100");
  spec.timeout = milliseconds(200);
  spec.kill_grace = milliseconds(1000);
  RunOutcome outcome = Run(spec);
  EXPECT_EQ(outcome.kind, OutcomeKind::kTimedOut);
  EXPECT_EQ(outcome.signal, SIGTERM);
  EXPECT_GE(outcome.Duration(), milliseconds(200));
  EXPECT_LT(outcome.Duration(), milliseconds(900));
  EXPECT_TRUE(GroupGoneWithin(outcome.pid, milliseconds(1000)));
}

TEST_P(ProcessExecutorTest, TimeoutEscalatesToSigkillAfterGrace) {
  // The ignored disposition is inherited by sleep too, so only SIGKILL ends the group.
  RunSpec spec = Sh("trap '' TERM; sleep 100");
  spec.timeout = milliseconds(100);
  spec.kill_grace = milliseconds(300);
  RunOutcome outcome = Run(spec);
  EXPECT_EQ(outcome.kind, OutcomeKind::kTimedOut);
  EXPECT_EQ(outcome.signal, SIGKILL);
  EXPECT_GE(outcome.Duration(), milliseconds(400));
  EXPECT_LT(outcome.Duration(), milliseconds(1200));
  EXPECT_TRUE(GroupGoneWithin(outcome.pid, milliseconds(1000)));
}

TEST_P(ProcessExecutorTest, SignalDispositionsOfTheWorkerAreNotInherited) {
  // A worker that ignores SIGTERM must not make its commands immune to it.
  struct sigaction ignore {};
  struct sigaction previous {};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(sigaction(SIGTERM, &ignore, &previous), 0);
  RunSpec spec = Sh("sleep 100");
  spec.timeout = milliseconds(100);
  spec.kill_grace = milliseconds(5000);
  RunOutcome outcome = Run(spec);
  sigaction(SIGTERM, &previous, nullptr);
  EXPECT_EQ(outcome.kind, OutcomeKind::kTimedOut);
  EXPECT_EQ(outcome.signal, SIGTERM);
  EXPECT_LT(outcome.Duration(), milliseconds(1000));
}

TEST_P(ProcessExecutorTest, DaemonOutlivingTheCommandIsKilledAndReported) {
  RunOutcome outcome = Run(Sh("(sleep 100 &) ; echo hi"));
  EXPECT_EQ(outcome.kind, OutcomeKind::kSucceeded);
  EXPECT_EQ(outcome.output_tail, "hi\n");
  EXPECT_TRUE(outcome.descendants_killed);
  EXPECT_LT(outcome.Duration(), milliseconds(1000));
  EXPECT_TRUE(GroupGoneWithin(outcome.pid, milliseconds(1000)));
}

TEST_P(ProcessExecutorTest, EscapedDaemonHoldingThePipeDoesNotBlockRun) {
  // setsid leaves the process group, so the daemon survives (documented limit); Run must
  // still return after the drain window instead of waiting for the pipe to close.
  RunOutcome outcome = Run(Sh("setsid sleep 1.5 & echo started"));
  EXPECT_EQ(outcome.kind, OutcomeKind::kSucceeded);
  EXPECT_EQ(outcome.output_tail, "started\n");
  EXPECT_LT(outcome.Duration(), milliseconds(1000));
}

TEST_P(ProcessExecutorTest, OutputTailIsBounded) {
  RunSpec spec = Sh("yes | head -c 10000000");
  spec.output_tail_bytes = 1024;
  RunOutcome outcome = Run(spec);
  EXPECT_EQ(outcome.kind, OutcomeKind::kSucceeded);
  EXPECT_EQ(outcome.output_bytes_total, 10000000u);
  EXPECT_EQ(outcome.output_bytes_dropped, 10000000u - 1024u);
  std::string expected;
  for (int i = 0; i < 512; ++i) expected += "y\n";
  EXPECT_EQ(outcome.output_tail, expected);
}

TEST_P(ProcessExecutorTest, BinaryOutputIsKeptVerbatim) {
  RunOutcome outcome = Run(Sh("printf 'a\\000b\\377\\001'"));
  EXPECT_EQ(outcome.kind, OutcomeKind::kSucceeded);
  EXPECT_EQ(outcome.output_tail, std::string("a\0b\xff\x01", 5));
}

TEST_P(ProcessExecutorTest, ClosedOutputDoesNotEndTheRun) {
  RunOutcome outcome = Run(Sh("echo before; exec >&- 2>&-; sleep 0.1; exit 0"));
  EXPECT_EQ(outcome.kind, OutcomeKind::kSucceeded);
  EXPECT_EQ(outcome.output_tail, "before\n");
  EXPECT_GE(outcome.Duration(), milliseconds(100));
}

TEST_P(ProcessExecutorTest, StdinIsDevNull) {
  RunSpec spec = Sh("cat");
  spec.timeout = milliseconds(1000);
  RunOutcome outcome = Run(spec);
  EXPECT_EQ(outcome.kind, OutcomeKind::kSucceeded);
  EXPECT_EQ(outcome.output_bytes_total, 0u);
}

TEST_P(ProcessExecutorTest, WorkerDescriptorsDoNotLeak) {
  const int fd = open("/dev/null", O_RDONLY);  // Deliberately without O_CLOEXEC.
  ASSERT_GE(fd, 3);
  RunOutcome outcome = Run(Sh("test -e /proc/self/fd/" + std::to_string(fd)));
  close(fd);
  EXPECT_EQ(outcome.kind, OutcomeKind::kFailed);
}

TEST_P(ProcessExecutorTest, CancelFromAnotherThread) {
  RunSpec spec = Sh("sleep 100");
  spec.kill_grace = milliseconds(1000);
  CancelToken token;
  std::thread canceller([&token] {
    std::this_thread::sleep_for(milliseconds(100));
    token.Cancel();
  });
  RunOutcome outcome = executor_.Run(spec, token);
  canceller.join();
  EXPECT_EQ(outcome.kind, OutcomeKind::kCancelled);
  EXPECT_EQ(outcome.signal, SIGTERM);
  EXPECT_LT(outcome.Duration(), milliseconds(600));
}

TEST_P(ProcessExecutorTest, CancelBeforeRunDoesNotSpawn) {
  CancelToken token;
  token.Cancel();
  token.Cancel();  // Idempotent.
  RunOutcome outcome = executor_.Run(Sh("true"), token);
  EXPECT_EQ(outcome.kind, OutcomeKind::kCancelled);
  EXPECT_EQ(outcome.pid, 0);
}

bool ExistsWithin(const std::string& path, milliseconds limit) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (access(path.c_str(), F_OK) != 0) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return true;
}

std::string FreshPath(const std::string& name) {
  const std::string path =
      ::testing::TempDir() + "krond-begin-" + name + "-" + std::to_string(getpid());
  unlink(path.c_str());
  return path;
}

// Begin() starts a command a warm shell can run before Wait() is called (the worker's poll
// thread starts a burst that way); a command it would have to spawn waits for Wait().
TEST_P(ProcessExecutorTest, BeginStartsWarmCommandsAtOnceAndDefersSpawns) {
  const std::string marker = FreshPath("start");
  CancelToken token;
  const SystemTime before = clock_.Now();
  std::unique_ptr<PendingRun> pending = executor_.Begin(Sh("touch " + marker), token);
  const bool warm = GetParam().warm_shells > 0;
  EXPECT_EQ(ExistsWithin(marker, milliseconds(warm ? 5000 : 300)), warm);
  const SystemTime waited = clock_.Now();
  RunOutcome outcome = pending->Wait();
  EXPECT_EQ(outcome.kind, OutcomeKind::kSucceeded);
  EXPECT_EQ(access(marker.c_str(), F_OK), 0);
  // The run's start is when the command was handed over, not when Wait() began.
  EXPECT_GE(outcome.wall_started, before);
  if (warm) {
    EXPECT_LT(outcome.wall_started, waited);
  } else {
    EXPECT_GE(outcome.wall_started, waited);
  }
  unlink(marker.c_str());
}

// Under the guard, a warm shell of the worker's own user is watched by the pool's one
// krond-guard (internal::GroupWatch), not run under a guard of its own: the run is the shell
// itself, one process at its instant. A spawned run still has its guard as its leader.
TEST_P(ProcessExecutorTest, AWarmRunIsOneProcessAndASpawnedOneIsUnderItsGuard) {
  RunOutcome outcome = Run(Sh("echo $$"));
  ASSERT_EQ(outcome.kind, OutcomeKind::kSucceeded) << outcome.error;
  const pid_t shell = std::stoi(outcome.output_tail);
  const bool guard_between = GetParam().guarded && GetParam().warm_shells == 0;
  EXPECT_EQ(outcome.pid != shell, guard_between)
      << "run pid " << outcome.pid << ", shell " << shell;
}

TEST_P(ProcessExecutorTest, BeginDefersCommandsNoWarmShellCanRun) {
  const std::string marker = FreshPath("cwd");
  RunSpec spec = Sh("touch " + marker);
  spec.cwd = "/";  // A warm shell runs in the worker's directory: not eligible.
  CancelToken token;
  std::unique_ptr<PendingRun> pending = executor_.Begin(spec, token);
  EXPECT_FALSE(ExistsWithin(marker, milliseconds(300)));
  EXPECT_EQ(pending->Wait().kind, OutcomeKind::kSucceeded);
  EXPECT_EQ(access(marker.c_str(), F_OK), 0);
  unlink(marker.c_str());
}

TEST_P(ProcessExecutorTest, BegunRunCancelledBeforeWaitIsCancelled) {
  RunSpec spec = Sh("sleep 100");
  spec.kill_grace = milliseconds(1000);
  CancelToken token;
  std::unique_ptr<PendingRun> pending = executor_.Begin(spec, token);
  token.Cancel();
  RunOutcome outcome = pending->Wait();
  EXPECT_EQ(outcome.kind, OutcomeKind::kCancelled);
  if (GetParam().warm_shells > 0) {
    EXPECT_GT(outcome.pid, 0);  // Already handed to a shell: stopped, not skipped.
    EXPECT_EQ(outcome.signal, SIGTERM);
  } else {
    EXPECT_EQ(outcome.pid, 0);  // Never spawned.
  }
}

TEST_P(ProcessExecutorTest, EnvironmentAdditionsAndOverrides) {
  RunSpec spec = Sh("echo \"$KROND_RUN_ID $KROND_JOB $KROND_ATTEMPT ${HOME-unset}\"");
  spec.env = {{"KROND_RUN_ID", "r-1"},
              {"KROND_JOB", "backup"},
              {"KROND_ATTEMPT", "2"},
              {"HOME", "/nowhere"}};
  EXPECT_EQ(Run(spec).output_tail, "r-1 backup 2 /nowhere\n");

  spec.env = {{"KROND_RUN_ID", "r-2"}};
  spec.inherit_env = false;
  EXPECT_EQ(Run(spec).output_tail, "r-2   unset\n");
}

TEST_P(ProcessExecutorTest, WorkingDirectory) {
  RunSpec spec = Sh("pwd");
  spec.cwd = "/tmp";
  EXPECT_EQ(Run(spec).output_tail, "/tmp\n");
}

TEST_P(ProcessExecutorTest, LimitsAreAppliedThroughPrlimit) {
  RunSpec spec = Sh("true");
  spec.limits.cpu_seconds = 1;
  spec.limits.open_files = 64;
  std::vector<std::string> argv = executor_.EffectiveArgv(spec);
  ASSERT_GE(argv.size(), 4u);
  EXPECT_EQ(argv[0], "/usr/bin/prlimit");
  EXPECT_EQ(argv[1], "--cpu=1:2");
  EXPECT_EQ(argv[2], "--nofile=64:64");
  EXPECT_EQ(argv[3], "--");

  spec = Sh("ulimit -n");
  spec.limits.open_files = 64;
  RunOutcome outcome = Run(spec);
  EXPECT_EQ(outcome.kind, OutcomeKind::kSucceeded);
  EXPECT_EQ(outcome.output_tail, "64\n");
}

TEST_P(ProcessExecutorTest, CpuLimitKillsABusyLoop) {
  RunSpec spec = Sh("while :; do :; done");
  spec.limits.cpu_seconds = 1;
  spec.timeout = milliseconds(10000);  // Safety net only.
  RunOutcome outcome = Run(spec);
  EXPECT_EQ(outcome.kind, OutcomeKind::kKilledBySignal);
  EXPECT_THAT(outcome.signal, ::testing::AnyOf(SIGXCPU, SIGKILL));
}

TEST_P(ProcessExecutorTest, AddressSpaceLimitMakesLargeAllocationsFail) {
  // scripts/setup-deps installs python3: its absence is a broken setup, not a reason to skip.
  ASSERT_EQ(access("/usr/bin/python3", X_OK), 0)
      << "/usr/bin/python3 missing: run scripts/setup-deps";
  RunSpec spec = Argv({"/usr/bin/python3", "-c", "x = bytearray(10**9)"});
  spec.limits.address_space_bytes = 200u * 1024 * 1024;
  RunOutcome outcome = Run(spec);
  EXPECT_EQ(outcome.kind, OutcomeKind::kFailed);
  EXPECT_THAT(outcome.output_tail, HasSubstr("MemoryError"));
}

TEST_P(ProcessExecutorTest, WaitpidFallbackWithoutPidfd) {
  ProcessExecutorOptions options;
  options.use_pidfd = false;
  ProcessExecutor executor(clock_, options);
  CancelToken token;
  RunOutcome ok = executor.Run(Sh("echo hi; exit 4"), token);
  EXPECT_EQ(ok.kind, OutcomeKind::kFailed);
  EXPECT_EQ(ok.exit_code, 4);
  EXPECT_EQ(ok.output_tail, "hi\n");

  RunSpec spec = Sh("(sleep 100 &); sleep 100");
  spec.timeout = milliseconds(100);
  spec.kill_grace = milliseconds(100);
  RunOutcome timed_out = executor.Run(spec, token);
  EXPECT_EQ(timed_out.kind, OutcomeKind::kTimedOut);
  EXPECT_LT(timed_out.Duration(), milliseconds(800));
  EXPECT_TRUE(GroupGoneWithin(timed_out.pid, milliseconds(1000)));
}

TEST_P(ProcessExecutorTest, RunsConcurrentlyWithoutBlockingEachOther) {
  constexpr int kRuns = 8;
  std::vector<RunOutcome> outcomes(kRuns);
  std::vector<std::thread> threads;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kRuns; ++i) {
    threads.emplace_back([this, i, &outcomes] {
      RunSpec spec = Sh("sleep 0.3; echo $KROND_RUN_ID");
      spec.env = {{"KROND_RUN_ID", std::to_string(i)}};
      CancelToken token;
      outcomes[static_cast<std::size_t>(i)] = executor_.Run(spec, token);
    });
  }
  for (std::thread& t : threads) t.join();
  const auto elapsed = std::chrono::steady_clock::now() - start;
  for (int i = 0; i < kRuns; ++i) {
    const RunOutcome& outcome = outcomes[static_cast<std::size_t>(i)];
    EXPECT_EQ(outcome.kind, OutcomeKind::kSucceeded) << i;
    EXPECT_EQ(outcome.output_tail, std::to_string(i) + "\n");
  }
  // Serialized runs would take 8 * 300 ms.
  EXPECT_LT(elapsed, milliseconds(1500));
}

}  // namespace
}  // namespace krond::exec
