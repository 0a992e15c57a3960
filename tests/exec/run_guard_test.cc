// krond-guard (src/guard) and the reaping of orphans (internal::ReapOrphans): real processes,
// no worker. Everything else about guarded runs is in process_executor_test.cc, which runs
// every executor test under the guard too.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "exec/group_watch.h"
#include "exec/process_executor.h"
#include "exec/spawn.h"

namespace krond::exec {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

// Whether `pid` no longer runs: gone, or a zombie waiting for its parent.
bool Ended(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text;
  if (!std::getline(stat, text)) return true;
  const auto paren = text.rfind(')');
  return paren != std::string::npos && paren + 2 < text.size() && text[paren + 2] == 'Z';
}
bool Gone(pid_t pid) { return !std::filesystem::exists("/proc/" + std::to_string(pid)); }

template <class Pred>
bool Within(milliseconds limit, Pred done) {
  const auto until = steady_clock::now() + limit;
  while (!done()) {
    if (steady_clock::now() > until) return false;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return true;
}

// Reads lines from a non-blocking pipe until `count` arrived (or 5 s passed).
std::vector<std::string> ReadLines(int fd, size_t count) {
  std::string text;
  Within(milliseconds(5000), [&] {
    char buffer[256];
    const ssize_t n = read(fd, buffer, sizeof buffer);
    if (n > 0) text.append(buffer, static_cast<size_t>(n));
    return static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) >= count;
  });
  std::vector<std::string> lines;
  size_t start = 0;
  for (size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
    lines.push_back(text.substr(start, end - start));
  }
  return lines;
}

class RunGuardTest : public ::testing::Test {
 protected:
  // Orphans of the commands come to the test process, which reaps them (and checks that).
  static void SetUpTestSuite() { ASSERT_TRUE(ProcessExecutor::BecomeChildSubreaper()); }

  RunGuardTest() {
    int fds[2];
    EXPECT_EQ(pipe2(fds, O_CLOEXEC), 0);
    watch_read_ = internal::UniqueFd(fcntl(fds[0], F_DUPFD_CLOEXEC, 10));
    close(fds[0]);
    watch_write_ = internal::UniqueFd(fds[1]);
  }

  // Starts `command` under the guard; its output arrives on output_.
  pid_t Start(const std::string& command) {
    auto pipe = internal::MakeOutputPipe();
    EXPECT_TRUE(pipe);
    std::vector<std::string> argv = {"/bin/sh", "-c", command};
    std::vector<std::string> env = {"PATH=/usr/bin:/bin"};
    auto pid = internal::Spawn("/bin/sh", argv, env, "", pipe->write.Get(), -1,
                               internal::Guard{KROND_GUARD_PATH, watch_read_.Get()});
    EXPECT_TRUE(pid) << pid.error().message;
    output_ = std::move(pipe->read);
    return pid.value_or(0);
  }

  internal::UniqueFd watch_read_, watch_write_, output_;
};

// The worker dies (here: the write end of the watched pipe closes, as the kernel closes it
// for a worker SIGKILLed mid-run): the command and everything it started in its group die
// with it, within milliseconds, instead of running on beside the redelivered run.
TEST_F(RunGuardTest, KillsTheRunsProcessGroupWhenTheWorkerGoes) {
  const pid_t guard = Start("sleep 300 & echo $!; echo $$; wait");
  const std::vector<std::string> pids = ReadLines(output_.Get(), 2);
  ASSERT_EQ(pids.size(), 2u);
  const pid_t background = std::stoi(pids[0]);
  const pid_t shell = std::stoi(pids[1]);
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_FALSE(Ended(background));
  EXPECT_FALSE(Ended(shell));

  watch_write_.Reset();
  EXPECT_TRUE(Within(milliseconds(1000), [&] { return Ended(shell) && Ended(background); }));
  int status = 0;
  EXPECT_EQ(internal::WaitChild(guard, &status, 0), guard);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  // The test process is a subreaper: the orphans are its zombies now.
  EXPECT_TRUE(Within(milliseconds(2000), [&] {
    internal::ReapOrphans();
    return Gone(shell) && Gone(background);
  }));
}

TEST_F(RunGuardTest, RunsNothingWhenTheWorkerIsAlreadyGone) {
  const std::string marker =
      (std::filesystem::temp_directory_path() / ("krond-guard-" + std::to_string(getpid())))
          .string();
  watch_write_.Reset();
  const pid_t guard = Start("touch " + marker);
  int status = 0;
  EXPECT_EQ(internal::WaitChild(guard, &status, 0), guard);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 125);
  EXPECT_FALSE(std::filesystem::exists(marker));
}

TEST_F(RunGuardTest, TheStopSignalsOfTheGroupAreTheCommandsToHandle) {
  // The executor stops a run with SIGTERM to its group: the guard waits for the command,
  // which here traps it and exits 7.
  const pid_t guard = Start("trap 'exit 7' TERM; echo ready; while :; do sleep 0.05; done");
  ASSERT_EQ(ReadLines(output_.Get(), 1).size(), 1u);
  ASSERT_EQ(kill(-guard, SIGTERM), 0);
  int status = 0;
  EXPECT_EQ(internal::WaitChild(guard, &status, 0), guard);
  EXPECT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 7);
}

// A daemon that escapes its run with setsid is reparented to the worker (a subreaper, or a
// container's PID 1) when its parent exits; nothing waits for it, and without ReapOrphans it
// stays a zombie until the worker exits.
// The executor stops a run by signalling its group, which may be at any point of the
// guard's start. A SIGTERM that reached the guard before its command existed was ignored and
// lost: the run then lived out its kill grace and died of SIGKILL (a flaky cancel test under
// load). Sent at every offset across the start, it stops the run each time.
TEST_F(RunGuardTest, AStopSignalSentWhileTheRunStartsIsNeverLost) {
  for (int i = 0; i < 120; ++i) {
    const pid_t guard = Start("sleep 100");
    ASSERT_GT(guard, 0);
    std::this_thread::sleep_for(std::chrono::microseconds(25 * i));
    ASSERT_EQ(kill(-guard, SIGTERM), 0);
    int status = 0;
    const bool ended = Within(
        milliseconds(3000), [&] { return internal::WaitChild(guard, &status, WNOHANG) == guard; });
    if (!ended) {
      kill(-guard, SIGKILL);
      internal::WaitChild(guard, &status, 0);
    }
    ASSERT_TRUE(ended) << "SIGTERM " << 25 * i << " us after the start was lost";
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM) << "offset " << 25 * i;
    internal::ReapOrphans();
  }
}

TEST_F(RunGuardTest, OrphansThatLeftTheirGroupAreReaped) {
  const pid_t guard = Start("setsid sh -c 'echo $$; sleep 0.3' & sleep 0.1");
  const std::vector<std::string> lines = ReadLines(output_.Get(), 1);
  ASSERT_EQ(lines.size(), 1u);
  const pid_t escaped = std::stoi(lines[0]);
  int status = 0;
  EXPECT_EQ(internal::WaitChild(guard, &status, 0), guard);
  ASSERT_TRUE(Within(milliseconds(3000), [&] { return Ended(escaped); }));
  EXPECT_FALSE(Gone(escaped)) << "a zombie of the test process until reaped";
  EXPECT_GE(internal::ReapOrphans(), 1);
  EXPECT_TRUE(Gone(escaped));
}

TEST_F(RunGuardTest, ReapOrphansNeverTakesAChildItsOwnerWaitsFor) {
  const pid_t guard = Start("exit 3");
  ASSERT_TRUE(Within(milliseconds(3000), [&] { return Ended(guard); }));
  EXPECT_EQ(internal::ReapOrphans(), 0);
  int status = 0;
  EXPECT_EQ(internal::WaitChild(guard, &status, 0), guard);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 3);
}

// internal::GroupWatch: one `krond-guard --watch-groups` for the warm shells' groups. Each
// test has two groups, started as a warm shell is (a process group of its own, no guard),
// and a watcher.
class GroupWatchTest : public RunGuardTest {
 protected:
  struct Group {
    pid_t leader = 0;
    pid_t background = 0;  // a child of the leader, in its group
  };

  void SetUp() override {
    first_ = StartGroup();
    second_ = StartGroup();
    ASSERT_GT(first_.leader, 0);
    ASSERT_GT(second_.leader, 0);
    auto watch = internal::GroupWatch::Start(KROND_GUARD_PATH);
    ASSERT_TRUE(watch) << watch.error().message;
    watch_ = std::move(*watch);
  }
  void TearDown() override {
    watch_.reset();
    End(first_);
    End(second_);
  }

  Group StartGroup() {
    auto pipe = internal::MakeOutputPipe();
    EXPECT_TRUE(pipe);
    std::vector<std::string> argv = {"/bin/sh", "-c", "sleep 300 & echo $!; echo $$; wait"};
    std::vector<std::string> env = {"PATH=/usr/bin:/bin"};
    auto pid = internal::Spawn("/bin/sh", argv, env, "", pipe->write.Get());
    EXPECT_TRUE(pid) << pid.error().message;
    const std::vector<std::string> pids = ReadLines(pipe->read.Get(), 2);
    EXPECT_EQ(pids.size(), 2u);
    if (!pid || pids.size() != 2) return {};
    EXPECT_EQ(std::stoi(pids[1]), *pid);
    return {*pid, std::stoi(pids[0])};
  }
  // Kills and reaps what the watcher left alone.
  static void End(const Group& group) {
    if (group.leader <= 0) return;
    kill(-group.leader, SIGKILL);
    internal::WaitChild(group.leader, nullptr, 0);
    Within(milliseconds(2000), [&] {
      internal::ReapOrphans();
      return Gone(group.background);
    });
  }
  static bool Running(const Group& group) {
    return !Ended(group.leader) && !Ended(group.background);
  }
  static bool Killed(const Group& group) { return Ended(group.leader) && Ended(group.background); }
  // Both groups are watched: the replaced watcher killed neither, the new one kills both.
  void ExpectBothAliveUntilTheWorkerGoes() {
    std::this_thread::sleep_for(milliseconds(100));
    EXPECT_TRUE(Running(first_));
    EXPECT_TRUE(Running(second_));
    watch_.reset();
    EXPECT_TRUE(Within(milliseconds(1000), [&] { return Killed(first_) && Killed(second_); }));
  }

  Group first_, second_;
  std::unique_ptr<internal::GroupWatch> watch_;
};

// The worker goes (its end of the pipe closes: here the destructor closes it, as the kernel
// does for a worker SIGKILLed mid-run): every group still watched dies, the whole group;
// one forgotten (its run ended) is not the watcher's any more.
TEST_F(GroupWatchTest, KillsTheGroupsItWatchesWhenTheWorkerGoes) {
  ASSERT_TRUE(watch_->Watch(first_.leader));
  ASSERT_TRUE(watch_->Watch(second_.leader));
  watch_->Forget(second_.leader);
  std::this_thread::sleep_for(milliseconds(100));
  EXPECT_TRUE(Running(first_));

  watch_.reset();
  EXPECT_TRUE(Within(milliseconds(1000), [&] { return Killed(first_); }));
  EXPECT_TRUE(Running(second_));
}

// Someone kills the watcher: another one is started at once, with no Watch or Forget to
// notice, and handed every group still watched, so the guarantee holds for the shells
// started before as well.
TEST_F(GroupWatchTest, AKilledWatcherIsReplacedAtOnceWithEveryGroupStillWatched) {
  ASSERT_TRUE(watch_->Watch(first_.leader));
  const pid_t killed = watch_->watcher();
  ASSERT_EQ(kill(killed, SIGKILL), 0);
  EXPECT_TRUE(Within(milliseconds(1000), [&] {
    const pid_t now = watch_->watcher();
    return now > 0 && now != killed && Gone(killed);
  })) << "replaced, and the dead watcher reaped";
  ASSERT_TRUE(watch_->Watch(second_.leader));
  ExpectBothAliveUntilTheWorkerGoes();
}

// A watcher that stops reading (SIGSTOP) does not block the pool: once its pipe is full the
// next write SIGKILLs it, so it kills none of the groups, and starts another with them all.
TEST_F(GroupWatchTest, AWatcherThatStopsReadingIsReplacedWithoutBlockingOrKilling) {
  ASSERT_TRUE(watch_->Watch(first_.leader));
  const pid_t stopped = watch_->watcher();
  ASSERT_EQ(kill(stopped, SIGSTOP), 0);
  // Two records a pass; the pipe holds 262,144.
  int passes = 0;
  while (watch_->watcher() == stopped && passes < 200'000) {
    watch_->Forget(second_.leader);
    ASSERT_TRUE(watch_->Watch(second_.leader));
    ++passes;
  }
  EXPECT_NE(watch_->watcher(), stopped) << "after " << passes << " passes";
  EXPECT_GT(passes, 1000) << "a watcher busy for a moment is not replaced";
  EXPECT_TRUE(Gone(stopped));
  ExpectBothAliveUntilTheWorkerGoes();
}

TEST(ProcessExecutorReaperTest, ReapsEscapedDaemonsByItself) {
  RealClock clock;
  ProcessExecutorOptions options;
  options.reap_orphans = true;
  options.reap_interval = milliseconds(50);
  ProcessExecutor executor(clock, options);
  RunSpec spec;
  spec.argv = {"/bin/sh", "-c", "setsid sh -c 'echo $$; sleep 0.3' & sleep 0.1"};
  CancelToken token;
  RunOutcome outcome = executor.Run(spec, token);
  ASSERT_EQ(outcome.kind, OutcomeKind::kSucceeded) << outcome.error;
  const pid_t escaped = std::stoi(outcome.output_tail);
  EXPECT_TRUE(Within(milliseconds(3000), [&] { return Gone(escaped); }));
}

}  // namespace
}  // namespace krond::exec
