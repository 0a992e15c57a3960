// Who commands run as and what they see: the pure environment functions, and real runs
// switched to `nobody` by krond-guard (these need root, as a worker that switches users does:
// CI and the dev machines run the tests as root; elsewhere they are skipped with the reason).
#include "exec/run_as.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "common/user_name.h"
#include "exec/process_executor.h"

namespace krond::exec {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::UnorderedElementsAre;

TEST(FilterEnvironmentTest, KeepsOnlyTheAllowList) {
  const std::vector<std::string> worker = {"PATH=/usr/bin",
                                           "HOME=/root",
                                           "USER=root",
                                           "LANG=C.UTF-8",
                                           "LC_TIME=en_GB",
                                           "TZ=UTC",
                                           "KAFKA_PASSWORD=hunter2",
                                           "KROND_KAFKA_SASL=x",
                                           "AWS_SECRET_ACCESS_KEY=y",
                                           "LD_PRELOAD=/tmp/evil.so",
                                           "PATHX=no",
                                           "LC=no"};
  EXPECT_THAT(FilterEnvironment(worker, {}),
              ElementsAre("PATH=/usr/bin", "HOME=/root", "USER=root", "LANG=C.UTF-8",
                          "LC_TIME=en_GB", "TZ=UTC"));
}

TEST(FilterEnvironmentTest, PassEnvAddsExactNames) {
  const std::vector<std::string> worker = {"HTTP_PROXY=p", "HTTP_PROXY_USER=u", "SECRET=s"};
  EXPECT_THAT(FilterEnvironment(worker, {"HTTP_PROXY"}), ElementsAre("HTTP_PROXY=p"));
}

TEST(FilterEnvironmentTest, DropsEntriesWithoutValue) {
  EXPECT_THAT(FilterEnvironment({"PATH"}, {}), IsEmpty());
}

TEST(WithUserVariablesTest, ReplacesHomeUserAndLogname) {
  Credentials nobody;
  nobody.name = "nobody";
  nobody.home = "/nonexistent";
  EXPECT_THAT(WithUserVariables({"PATH=/bin", "HOME=/root", "USER=root", "LOGNAME=root"}, nobody),
              ElementsAre("PATH=/bin", "HOME=/nonexistent", "USER=nobody", "LOGNAME=nobody"));
  EXPECT_THAT(WithUserVariables({}, nobody),
              UnorderedElementsAre("HOME=/nonexistent", "USER=nobody", "LOGNAME=nobody"));
}

TEST(EncodeCredentialsTest, IdsAndGroups) {
  Credentials c;
  c.uid = 1000;
  c.gid = 100;
  c.groups = {100, 27, 44};
  EXPECT_EQ(EncodeCredentials(c), "1000:100:100,27,44");
  c.groups.clear();
  EXPECT_EQ(EncodeCredentials(c), "1000:100:");
}

TEST(LookupUserTest, ResolvesRootAndRefusesUnknownUsers) {
  Result<Credentials> root = LookupUser("root");
  ASSERT_TRUE(root) << root.error().message;
  EXPECT_EQ(root->uid, 0u);
  EXPECT_EQ(root->gid, 0u);
  EXPECT_THAT(root->groups, ::testing::Contains(0u));
  Result<Credentials> missing = LookupUser("krond-no-such-user");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().message, "unknown user \"krond-no-such-user\" on this worker");
}

TEST(UserNameTest, Syntax) {
  for (const char* ok : {"nobody", "www-data", "svc.backup", "_apt", "a", "User1"}) {
    EXPECT_TRUE(IsValidUserName(ok)) << ok;
  }
  for (const char* bad :
       {"", "-rf", "1000", "a b", "root:x", "a/b", "été", "abcdefghijklmnopqrstuvwxyz0123456"}) {
    EXPECT_FALSE(IsValidUserName(bad)) << bad;
  }
}

// What a real command sees, spawned (0) or in a warm shell (2): the worker's allow-listed
// variables and --pass-env names, the job's env: over them, the run's KROND_* over all.
class CommandEnvironmentTest : public ::testing::TestWithParam<int> {};

TEST_P(CommandEnvironmentTest, JobEnvGoesOverTheAllowListAndKrondVariablesOverIt) {
  RealClock clock;
  ProcessExecutorOptions options;
  options.guard_path = KROND_GUARD_PATH;
  options.environment = FilterEnvironment(
      {"PATH=/usr/bin:/bin", "HOME=/home/worker", "LANG=C", "SECRET=hunter2", "DB_HOST=db1"},
      {"DB_HOST"});
  options.warm_shells = static_cast<size_t>(GetParam());
  ProcessExecutor executor(clock, options);
  RunSpec spec;
  // The shell's own PWD, SHLVL and _ are not the worker's to give or keep.
  spec.argv = {"/bin/sh", "-c", "env | grep -Ev '^(PWD|OLDPWD|SHLVL|_)=' | sort"};
  spec.env = {{"LANG", "C.UTF-8"}, {"REGION", "eu west"}, {"KROND_RUN_ID", "r1"}};
  CancelToken token;
  RunOutcome outcome = executor.Run(spec, token);
  ASSERT_EQ(outcome.kind, OutcomeKind::kSucceeded) << outcome.error << outcome.output_tail;
  EXPECT_EQ(outcome.output_tail,
            "DB_HOST=db1\nHOME=/home/worker\nKROND_RUN_ID=r1\nLANG=C.UTF-8\nPATH=/usr/bin:/bin\n"
            "REGION=eu west\n");
}

INSTANTIATE_TEST_SUITE_P(SpawnedOrWarm, CommandEnvironmentTest, ::testing::Values(0, 2));

// Real runs as `nobody` (uid 65534 on Debian), under the real krond-guard.
class RunAsNobodyTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "switching users needs root";
    Result<Credentials> nobody = LookupUser("nobody");
    ASSERT_TRUE(nobody) << nobody.error().message;
    nobody_ = *nobody;
    ProcessExecutorOptions options;
    options.guard_path = KROND_GUARD_PATH;
    options.environment =
        std::vector<std::string>{"PATH=/usr/bin:/bin", "HOME=/root", "USER=root", "LOGNAME=root"};
    options.warm_shells = static_cast<size_t>(GetParam());
    options.warm_shell_user = "nobody";
    options.refuse_uid0_user = true;
    executor_ = std::make_unique<ProcessExecutor>(clock_, options);
    // With warm shells, the runs below go to one (a run that finds none ready is spawned,
    // and would not test them).
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (executor_->WarmShellsReady() < options.warm_shells &&
           std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    ASSERT_EQ(executor_->WarmShellsReady(), options.warm_shells);
  }

  RunOutcome Run(const std::string& command, const std::string& user = "nobody") {
    RunSpec spec;
    spec.argv = {"/bin/sh", "-c", command};
    spec.user = user;
    spec.env = {{"KROND_RUN_ID", "r1"}};
    CancelToken token;
    return executor_->Run(spec, token);
  }

  RealClock clock_;
  Credentials nobody_;
  std::unique_ptr<ProcessExecutor> executor_;
};

TEST_P(RunAsNobodyTest, RunsWithTheUsersIdsGroupsAndVariables) {
  RunOutcome outcome = Run("id -u; id -g; id -G; echo $HOME $USER $LOGNAME $KROND_RUN_ID");
  ASSERT_EQ(outcome.kind, OutcomeKind::kSucceeded) << outcome.error << outcome.output_tail;
  std::string groups;
  for (gid_t g : nobody_.groups) groups += (groups.empty() ? "" : " ") + std::to_string(g);
  EXPECT_EQ(outcome.output_tail, std::to_string(nobody_.uid) + "\n" + std::to_string(nobody_.gid) +
                                     "\n" + groups + "\n" + nobody_.home + " nobody nobody r1\n");
  EXPECT_NE(nobody_.uid, 0u);
}

TEST_P(RunAsNobodyTest, TheJobsEnvGoesOverTheUsersVariables) {
  RunSpec spec;
  spec.argv = {"/bin/sh", "-c", "echo $HOME $USER $PATH"};
  spec.user = "nobody";
  spec.env = {{"HOME", "/srv/job"}, {"PATH", "/opt/job/bin:/usr/bin:/bin"}};
  CancelToken token;
  RunOutcome outcome = executor_->Run(spec, token);
  ASSERT_EQ(outcome.kind, OutcomeKind::kSucceeded) << outcome.error << outcome.output_tail;
  EXPECT_EQ(outcome.output_tail, "/srv/job nobody /opt/job/bin:/usr/bin:/bin\n");
}

TEST_P(RunAsNobodyTest, CannotWriteWhereRootOwnsAndCannotGetRootBack) {
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("krond-run-as-" + std::to_string(getpid()));
  std::filesystem::create_directory(dir);
  chmod(dir.c_str(), 0755);
  RunOutcome outcome = Run("touch " + dir.string() +
                           "/x 2>/dev/null && echo wrote; "
                           "python3 -c 'import os; os.setuid(0)' 2>/dev/null && echo root; "
                           "cat /proc/self/status | grep -E '^(Uid|Gid|CapEff)'");
  std::filesystem::remove_all(dir);
  ASSERT_EQ(outcome.kind, OutcomeKind::kSucceeded) << outcome.error << outcome.output_tail;
  EXPECT_THAT(outcome.output_tail, Not(HasSubstr("wrote")));
  EXPECT_THAT(outcome.output_tail, Not(HasSubstr("root")));
  const std::string id = std::to_string(nobody_.uid);
  EXPECT_THAT(outcome.output_tail, HasSubstr("Uid:\t" + id + "\t" + id + "\t" + id + "\t" + id));
  EXPECT_THAT(outcome.output_tail, HasSubstr("CapEff:\t0000000000000000"));
}

TEST_P(RunAsNobodyTest, AnUnknownUserIsRefusedAndNothingRuns) {
  const std::filesystem::path marker =
      std::filesystem::temp_directory_path() / ("krond-run-as-ran-" + std::to_string(getpid()));
  RunOutcome outcome = Run("touch " + marker.string(), "krond-no-such-user");
  EXPECT_EQ(outcome.kind, OutcomeKind::kSpawnFailed);
  EXPECT_EQ(outcome.refusal, Refusal::kUnknownUser);
  EXPECT_THAT(outcome.error, HasSubstr("unknown user \"krond-no-such-user\""));
  EXPECT_FALSE(std::filesystem::exists(marker));
}

TEST_P(RunAsNobodyTest, RootByNameIsRefusedWhenUid0IsRefused) {
  RunOutcome outcome = Run("id -u", "root");
  EXPECT_EQ(outcome.kind, OutcomeKind::kSpawnFailed);
  EXPECT_EQ(outcome.refusal, Refusal::kRoot);
  EXPECT_EQ(outcome.pid, 0);
}

TEST_P(RunAsNobodyTest, RunsOfTheWorkersOwnUserAreNotSwitched) {
  RunOutcome outcome = Run("id -u; echo $USER", "");
  ASSERT_EQ(outcome.kind, OutcomeKind::kSucceeded) << outcome.error;
  EXPECT_EQ(outcome.output_tail, "0\nroot\n");
}

// 0: every run spawned; 2: runs as nobody go to the pool's warm shells (started as nobody).
INSTANTIATE_TEST_SUITE_P(Spawned, RunAsNobodyTest, ::testing::Values(0, 2));

TEST(RunAsTest, NeedsTheGuard) {
  RealClock clock;
  ProcessExecutor executor(clock, {});
  RunSpec spec;
  spec.argv = {"/bin/true"};
  spec.user = "nobody";
  CancelToken token;
  RunOutcome outcome = executor.Run(spec, token);
  EXPECT_EQ(outcome.kind, OutcomeKind::kSpawnFailed);
  EXPECT_THAT(outcome.error, HasSubstr("needs krond-guard"));
}

}  // namespace
}  // namespace krond::exec
