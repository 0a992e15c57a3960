#include "exec/warm_shell_pool.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <string>
#include <thread>

#include "common/clock.h"
#include "exec/process_executor.h"

namespace krond::exec {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

RunSpec Sh(std::string command) {
  RunSpec spec;
  spec.argv = {"/bin/sh", "-c", std::move(command)};
  return spec;
}

bool WaitUntil(const std::function<bool()>& done) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return true;
}

bool Exists(pid_t pid) { return kill(pid, 0) == 0 || errno != ESRCH; }

TEST(WarmShellPoolTest, EligibleOnlyForPlainShellRuns) {
  EXPECT_TRUE(WarmShellPool::Eligible(Sh("echo hi")));
  RunSpec spec = Sh("echo hi");
  spec.env = {{"KROND_RUN_ID", "r1"}, {"_x9", "it's"}};
  EXPECT_TRUE(WarmShellPool::Eligible(spec));

  RunSpec argv;
  argv.argv = {"/bin/echo", "hi"};
  EXPECT_FALSE(WarmShellPool::Eligible(argv));
  RunSpec bash = Sh("true");
  bash.argv[0] = "/bin/bash";
  EXPECT_FALSE(WarmShellPool::Eligible(bash));
  RunSpec cwd = Sh("pwd");
  cwd.cwd = "/tmp";
  EXPECT_FALSE(WarmShellPool::Eligible(cwd));
  RunSpec limited = Sh("true");
  limited.limits.open_files = 64;
  EXPECT_FALSE(WarmShellPool::Eligible(limited));
  RunSpec clean = Sh("true");
  clean.inherit_env = false;
  EXPECT_FALSE(WarmShellPool::Eligible(clean));
  RunSpec bad_name = Sh("true");
  bad_name.env = {{"NOT-A-SHELL-NAME", "x"}};
  EXPECT_FALSE(WarmShellPool::Eligible(bad_name));
  RunSpec digit_first = Sh("true");
  digit_first.env = {{"1X", "x"}};
  EXPECT_FALSE(WarmShellPool::Eligible(digit_first));
  // Longer than a pipe is guaranteed to take without blocking.
  EXPECT_FALSE(WarmShellPool::Eligible(Sh(std::string(PIPE_BUF, ':'))));
}

TEST(WarmShellPoolTest, ScriptClosesTheScriptDescriptorAndQuotesValues) {
  RunSpec spec = Sh("echo \"$A\"");
  spec.env = {{"A", "it's $x"}};
  EXPECT_EQ(WarmShellPool::Script(spec), "exec 3<&-; export A='it'\\''s $x'; echo \"$A\"\n");
  EXPECT_EQ(WarmShellPool::Script(Sh("true")), "exec 3<&-; true\n");
}

TEST(WarmShellPoolTest, KeepsItsSizeReadyAndRefillsWhatIsTaken) {
  WarmShellPool pool(3);
  ASSERT_TRUE(WaitUntil([&] { return pool.Ready() == 3; }));
  std::optional<WarmShellPool::Shell> shell = pool.Take();
  ASSERT_TRUE(shell.has_value());
  EXPECT_GT(shell->pid, 0);
  EXPECT_TRUE(WaitUntil([&] { return pool.Ready() == 3; }));
  // An unused taken shell is the taker's: end it by closing its script.
  shell->script.Reset();
  int status = 0;
  ASSERT_EQ(waitpid(shell->pid, &status, 0), shell->pid);
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

TEST(WarmShellPoolTest, EmptyPoolHasNothingToTake) {
  WarmShellPool pool(0);
  EXPECT_FALSE(pool.Take().has_value());
  EXPECT_EQ(pool.Ready(), 0u);
}

TEST(WarmShellPoolTest, ShellKilledWhileIdleIsReportedNotWrittenTo) {
  WarmShellPool pool(1);
  ASSERT_TRUE(WaitUntil([&] { return pool.Ready() == 1; }));
  std::optional<WarmShellPool::Shell> shell = pool.Take();
  ASSERT_TRUE(shell.has_value());
  const pid_t pid = shell->pid;
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  // Dead but not reaped: Hand must notice (and reap) instead of raising SIGPIPE.
  ASSERT_TRUE(WaitUntil([&] {
    siginfo_t info{};
    return waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
           info.si_pid == pid;
  }));
  EXPECT_FALSE(pool.Hand(*shell, WarmShellPool::Script(Sh("true"))));
  EXPECT_FALSE(Exists(pid));
}

TEST(WarmShellPoolTest, DestructorEndsAndReapsIdleShells) {
  std::vector<pid_t> pids;
  {
    WarmShellPool pool(2);
    ASSERT_TRUE(WaitUntil([&] { return pool.Ready() == 2; }));
    for (int i = 0; i < 2; ++i) {
      std::optional<WarmShellPool::Shell> shell = pool.Take();
      ASSERT_TRUE(shell.has_value());
      pids.push_back(shell->pid);
      shell->script.Reset();
      ASSERT_EQ(waitpid(shell->pid, nullptr, 0), shell->pid);
    }
    ASSERT_TRUE(WaitUntil([&] { return pool.Ready() == 2; }));
    // The two refilled shells are only known by being alive; the destructor must end them.
  }
  // Nothing of ours is left to reap.
  EXPECT_EQ(waitpid(-1, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

// Through the executor: a warm run is the shell the pool started (its messages name the
// script), sees its variables and not the script descriptor, and keeps its exit status.
TEST(WarmShellPoolTest, ExecutorRunsEligibleCommandsInWarmShells) {
  RealClock clock;
  ProcessExecutorOptions options;
  options.warm_shells = 1;
  ProcessExecutor executor(clock, options);
  ASSERT_TRUE(WaitUntil([&] { return executor.WarmShellsReady() == 1; }));
  CancelToken token;
  RunSpec spec =
      Sh("echo \"$KROND_JOB\"; test -e /proc/self/fd/3 && echo leaked; nope-krond; exit 5");
  spec.env = {{"KROND_JOB", "a 'quoted'\nvalue"}};
  RunOutcome outcome = executor.Run(spec, token);
  EXPECT_EQ(outcome.kind, OutcomeKind::kFailed);
  EXPECT_EQ(outcome.exit_code, 5);
  EXPECT_THAT(outcome.output_tail, HasSubstr("a 'quoted'\nvalue\n"));
  EXPECT_THAT(outcome.output_tail, HasSubstr("/dev/fd/3: nope-krond: not found"));
  EXPECT_THAT(outcome.output_tail, ::testing::Not(HasSubstr("leaked")));

  // Not eligible: spawned as before, so the shell's message names no script.
  spec = Sh("nope-krond");
  spec.limits.open_files = 64;
  ASSERT_TRUE(WaitUntil([&] { return executor.WarmShellsReady() == 1; }));
  outcome = executor.Run(spec, token);
  EXPECT_EQ(outcome.exit_code, 127);
  EXPECT_THAT(outcome.output_tail, ::testing::Not(HasSubstr("/dev/fd/3")));
}

}  // namespace
}  // namespace krond::exec
