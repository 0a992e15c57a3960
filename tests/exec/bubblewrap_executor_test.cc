#include "exec/bubblewrap_executor.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "common/clock.h"
#include "exec/loopback_listener.h"
#include "exec/process_executor.h"

namespace krond::exec {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;

RunSpec Argv(std::vector<std::string> argv) {
  RunSpec spec;
  spec.argv = std::move(argv);
  spec.timeout = milliseconds(5000);
  return spec;
}

RunSpec Sh(std::string command) { return Argv({"/bin/sh", "-c", std::move(command)}); }

// True if a process whose command line contains `marker` exists on the host.
bool ProcessWithMarkerExists(const std::string& marker) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::ifstream cmdline(entry.path() / "cmdline", std::ios::binary);
    std::string text((std::istreambuf_iterator<char>(cmdline)), std::istreambuf_iterator<char>());
    if (text.find(marker) != std::string::npos) return true;
  }
  return false;
}

class BubblewrapExecutorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Skipped, loudly, only when this host cannot run bubblewrap at all.
    if (Status probe = sandbox_.Probe(); !probe) GTEST_SKIP() << probe.error().message;
  }

  RunOutcome Run(const RunSpec& spec) {
    CancelToken token;
    return sandbox_.Run(spec, token);
  }

  RealClock clock_;
  ProcessExecutor process_{clock_};
  BubblewrapExecutor sandbox_{process_};
};

TEST(BubblewrapArgvTest, BuildsTheDocumentedCommandLine) {
  RealClock clock;
  ProcessExecutor process(clock);
  BubblewrapExecutor sandbox(process);
  RunSpec spec = Argv({"/bin/sh", "-c", "echo hi"});
  std::vector<std::string> argv = sandbox.SandboxArgv(spec);
  EXPECT_EQ(argv.front(), "/usr/bin/bwrap");
  EXPECT_THAT(argv, ::testing::Not(::testing::Contains("--share-net")));
  EXPECT_THAT(argv, ::testing::Contains("--disable-userns"));
  const std::vector<std::string> tail(argv.end() - 7, argv.end());
  EXPECT_EQ(tail, (std::vector<std::string>{"65534", "--chdir", "/tmp", "--", "/bin/sh", "-c",
                                            "echo hi"}));
  spec.sandbox.allow_network = true;
  EXPECT_THAT(sandbox.SandboxArgv(spec), ::testing::Contains("--share-net"));
}

TEST(BubblewrapProbeTest, MissingBwrapFailsWithAClearMessage) {
  RealClock clock;
  ProcessExecutor process(clock);
  BubblewrapOptions options;
  options.bwrap_path = "/no/such/bwrap";
  BubblewrapExecutor sandbox(process, options);
  Status probe = sandbox.Probe();
  ASSERT_FALSE(probe);
  EXPECT_THAT(probe.error().message, HasSubstr("/no/such/bwrap: No such file or directory"));
}

TEST_F(BubblewrapExecutorTest, RunsAsNobody) {
  RunOutcome outcome = Run(Sh("id -u; id -g"));
  EXPECT_EQ(outcome.kind, OutcomeKind::kSucceeded) << outcome.output_tail;
  EXPECT_EQ(outcome.output_tail, "65534\n65534\n");
}

TEST_F(BubblewrapExecutorTest, OnlyTmpIsWritable) {
  RunOutcome outside = Run(Sh("touch /etc/krond-sandbox-probe"));
  EXPECT_EQ(outside.kind, OutcomeKind::kFailed);
  EXPECT_FALSE(std::filesystem::exists("/etc/krond-sandbox-probe"));

  RunOutcome inside = Run(Sh("touch /tmp/x && pwd"));
  EXPECT_EQ(inside.kind, OutcomeKind::kSucceeded) << inside.output_tail;
  EXPECT_EQ(inside.output_tail, "/tmp\n");
}

TEST_F(BubblewrapExecutorTest, NoNetworkUnlessAllowed) {
  LoopbackListener listener;
  ASSERT_TRUE(listener.Valid());
  const std::string& port = listener.port();
  RunSpec spec = Argv({"/bin/bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/" + port});

  RunOutcome isolated = Run(spec);
  EXPECT_EQ(isolated.kind, OutcomeKind::kFailed);
  EXPECT_THAT(isolated.output_tail, HasSubstr("/dev/tcp/127.0.0.1/" + port));

  spec.sandbox.allow_network = true;
  RunOutcome shared = Run(spec);
  EXPECT_EQ(shared.kind, OutcomeKind::kSucceeded) << shared.output_tail;
}

TEST_F(BubblewrapExecutorTest, EnvironmentAndCwdReachTheCommand) {
  RunSpec spec = Sh("echo \"$KROND_RUN_ID\"; pwd");
  spec.env = {{"KROND_RUN_ID", "r-9"}};
  spec.cwd = "/usr";
  RunOutcome outcome = Run(spec);
  EXPECT_EQ(outcome.output_tail, "r-9\n/usr\n");
}

TEST_F(BubblewrapExecutorTest, MissingProgramInsideTheSandboxIsSpawnFailed) {
  RunOutcome outcome = Run(Argv({"/no/such/program"}));
  EXPECT_EQ(outcome.kind, OutcomeKind::kSpawnFailed);
  EXPECT_THAT(outcome.error, HasSubstr("bwrap: execvp /no/such/program"));
}

TEST_F(BubblewrapExecutorTest, TimeoutKillsEverythingInTheSandboxEvenAfterSetsid) {
  const std::string marker = "1000.424242";  // A sleep duration nobody else uses.
  RunSpec spec = Sh("setsid sleep " + marker + " & sleep " + marker);
  spec.timeout = milliseconds(300);
  RunOutcome outcome = Run(spec);
  EXPECT_EQ(outcome.kind, OutcomeKind::kTimedOut);
  EXPECT_LT(outcome.Duration(), milliseconds(1500));
  bool gone = false;
  for (int i = 0; i < 100 && !gone; ++i) {
    gone = !ProcessWithMarkerExists(marker);
    if (!gone) usleep(10000);
  }
  EXPECT_TRUE(gone);
}

}  // namespace
}  // namespace krond::exec
