#include "config/job_file.h"

#include <date/tz.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace krond::config {
namespace {

using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::SizeIs;
using ::testing::StartsWith;

// The problems of `text` as "file:line:col: message" lines; empty when the file is valid.
std::vector<std::string> Problems(std::string_view text) {
  auto file = ParseJobFile(text, "jobs.yaml");
  if (file) return {};
  std::vector<std::string> out;
  for (const Problem& p : file.error()) out.push_back(p.ToString());
  return out;
}

JobFile MustParse(std::string_view text) {
  auto file = ParseJobFile(text, "jobs.yaml");
  if (!file) {
    std::string all;
    for (const Problem& p : file.error()) all += p.ToString() + "\n";
    ADD_FAILURE() << "unexpected problems:\n" << all;
    return JobFile{};
  }
  return std::move(*file);
}

// A valid file with one job; `extra` lines are appended to the job (indented 4 spaces).
std::string OneJob(std::string_view extra = "") {
  return std::string(R"(clusters: [a, b]
jobs:
  - name: j
    schedule: "* * * * *"
    cluster: a
    command: echo hi
)") + std::string(extra);
}

// ---- Valid files -----------------------------------------------------------------------

TEST(JobFileTest, MinimalJobGetsDocumentedDefaults) {
  JobFile file = MustParse(OneJob());
  EXPECT_EQ(file.path, "jobs.yaml");
  EXPECT_THAT(file.clusters, ElementsAre("a", "b"));
  ASSERT_THAT(file.jobs, SizeIs(1));
  const Job& job = file.jobs[0];
  EXPECT_EQ(job.name, "j");
  EXPECT_EQ(job.schedule.text(), "* * * * *");
  EXPECT_EQ(job.timezone, "UTC");
  EXPECT_EQ(job.cluster, "a");
  EXPECT_EQ(job.command, "echo hi");
  EXPECT_EQ(job.timeout, milliseconds(3'600'000));
  EXPECT_EQ(job.retry.max_attempts, 1);
  EXPECT_EQ(job.retry.backoff, milliseconds(2000));
  EXPECT_EQ(job.retry.max_backoff, milliseconds(300'000));
  EXPECT_EQ(job.retry.multiplier, 2.0);
  EXPECT_EQ(job.retry.jitter, 0.2);
  EXPECT_THAT(job.retry.RetryOn(), ElementsAre("failed", "timed_out"));
  EXPECT_EQ(job.concurrency, ConcurrencyPolicy::kAllow);
  EXPECT_EQ(job.catch_up, CatchUpPolicy::kLast);
  EXPECT_EQ(job.starting_deadline, std::nullopt);
  EXPECT_EQ(job.sandbox, SandboxMode::kNone);
  EXPECT_FALSE(job.network);
  EXPECT_EQ(job.line, 3);
}

TEST(JobFileTest, EveryFieldIsRead) {
  JobFile file = MustParse(R"(clusters: [cluster-a, cluster-b]
jobs:
  - name: nightly-report.v2_x
    schedule: "30 2 * * *"
    timezone: Europe/Dublin
    cluster: cluster-b
    command: "echo hello && date"
    timeout: 1m30s
    retry: {max_attempts: 5, backoff: 3s, max_backoff: 1m, multiplier: 1.5, jitter: 0,
            retry_on: [timed_out]}
    concurrency: forbid
    catch_up: all
    starting_deadline: 10m
    sandbox: bubblewrap
    network: true
)");
  ASSERT_THAT(file.jobs, SizeIs(1));
  const Job& job = file.jobs[0];
  EXPECT_EQ(job.name, "nightly-report.v2_x");
  EXPECT_EQ(job.timezone, "Europe/Dublin");
  EXPECT_EQ(job.schedule.zone()->name(), "Europe/Dublin");
  EXPECT_EQ(job.cluster, "cluster-b");
  EXPECT_EQ(job.command, "echo hello && date");
  EXPECT_EQ(job.timeout, milliseconds(90'000));
  EXPECT_EQ(job.retry.max_attempts, 5);
  EXPECT_EQ(job.retry.backoff, milliseconds(3000));
  EXPECT_EQ(job.retry.max_backoff, milliseconds(60'000));
  EXPECT_EQ(job.retry.multiplier, 1.5);
  EXPECT_EQ(job.retry.jitter, 0.0);
  EXPECT_THAT(job.retry.RetryOn(), ElementsAre("timed_out"));
  EXPECT_EQ(job.concurrency, ConcurrencyPolicy::kForbid);
  EXPECT_EQ(job.catch_up, CatchUpPolicy::kAll);
  EXPECT_EQ(job.starting_deadline, milliseconds(600'000));
  EXPECT_EQ(job.sandbox, SandboxMode::kBubblewrap);
  EXPECT_TRUE(job.network);
}

TEST(JobFileTest, JobsKeepFileOrderAndLines) {
  JobFile file = MustParse(R"(clusters: [a]
jobs:
  - name: first
    schedule: "@every 3s"
    cluster: a
    command: "true"

  - {name: second, schedule: "*/5 * * * * *", cluster: a, command: "true"}
)");
  ASSERT_THAT(file.jobs, SizeIs(2));
  EXPECT_EQ(file.jobs[0].name, "first");
  EXPECT_EQ(file.jobs[0].line, 3);
  EXPECT_EQ(file.jobs[1].name, "second");
  EXPECT_EQ(file.jobs[1].line, 8);
}

TEST(JobFileTest, ZeroJobsIsValid) {
  EXPECT_THAT(MustParse("clusters: [a]\njobs: []\n").jobs, IsEmpty());
  EXPECT_THAT(MustParse("clusters: [a]\njobs:\n").jobs, IsEmpty());
  EXPECT_THAT(MustParse("clusters: [a]\n").jobs, IsEmpty());
}

TEST(JobFileTest, EnumValuesAndStringsAccepted) {
  for (auto [text, want] : {std::pair{"allow", ConcurrencyPolicy::kAllow},
                            {"forbid", ConcurrencyPolicy::kForbid},
                            {"replace", ConcurrencyPolicy::kReplace}}) {
    JobFile file = MustParse(OneJob(std::string("    concurrency: ") + text + "\n"));
    ASSERT_THAT(file.jobs, SizeIs(1));
    EXPECT_EQ(file.jobs[0].concurrency, want);
    EXPECT_EQ(ToString(want), text);
  }
  for (auto [text, want] : {std::pair{"none", CatchUpPolicy::kNone},
                            {"last", CatchUpPolicy::kLast},
                            {"all", CatchUpPolicy::kAll}}) {
    JobFile file = MustParse(OneJob(std::string("    catch_up: ") + text + "\n"));
    ASSERT_THAT(file.jobs, SizeIs(1));
    EXPECT_EQ(file.jobs[0].catch_up, want);
    EXPECT_EQ(ToString(want), text);
  }
  EXPECT_EQ(ToString(SandboxMode::kNone), "none");
  EXPECT_EQ(ToString(SandboxMode::kBubblewrap), "bubblewrap");
}

TEST(JobFileTest, AnchorsAndAliasesWork) {
  JobFile file = MustParse(R"(clusters: [a]
jobs:
  - name: one
    schedule: &every-minute "* * * * *"
    cluster: a
    command: "true"
    retry: &retry {max_attempts: 4}
  - name: two
    schedule: *every-minute
    cluster: a
    command: "true"
    retry: *retry
)");
  ASSERT_THAT(file.jobs, SizeIs(2));
  EXPECT_EQ(file.jobs[1].schedule.text(), "* * * * *");
  EXPECT_EQ(file.jobs[1].retry.max_attempts, 4);
}

TEST(JobFileTest, NameOfExactly100CharactersIsValid) {
  JobFile file = MustParse("clusters: [a]\njobs:\n  - {name: " + std::string(100, 'x') +
                           ", schedule: '* * * * *', cluster: a, command: x}\n");
  ASSERT_THAT(file.jobs, SizeIs(1));
  EXPECT_EQ(file.jobs[0].name.size(), 100u);
}

TEST(JobFileTest, ExampleFileIsValid) {
  auto file = LoadJobFile(KROND_SOURCE_DIR "/examples/jobs.yaml");
  ASSERT_TRUE(file.has_value()) << file.error()[0].ToString();
  EXPECT_THAT(file->clusters, ElementsAre("cluster-a", "cluster-b"));
  EXPECT_THAT(file->jobs, SizeIs(6));
  int on_a = 0;
  for (const Job& job : file->jobs) on_a += job.cluster == "cluster-a" ? 1 : 0;
  EXPECT_EQ(on_a, 3);
}

// ---- defaults: ---------------------------------------------------------------------------

TEST(JobFileTest, DefaultsApplyToEveryJobAndJobsOverrideThem) {
  JobFile file = MustParse(R"(clusters: [a]
defaults:
  timezone: Asia/Tokyo
  timeout: 5m
  retry: {max_attempts: 3, backoff: 10s}
  concurrency: replace
  catch_up: none
  starting_deadline: 30s
  sandbox: bubblewrap
  network: true
jobs:
  - name: inherits
    schedule: "* * * * *"
    cluster: a
    command: "true"
  - name: overrides
    schedule: "* * * * *"
    cluster: a
    command: "true"
    timezone: UTC
    timeout: 1s
    retry: {max_attempts: 7}
    concurrency: allow
    catch_up: all
    starting_deadline: 1m
    sandbox: none
)");
  ASSERT_THAT(file.jobs, SizeIs(2));
  const Job& inherits = file.jobs[0];
  EXPECT_EQ(inherits.timezone, "Asia/Tokyo");
  EXPECT_EQ(inherits.schedule.zone()->name(), "Asia/Tokyo");
  EXPECT_EQ(inherits.timeout, milliseconds(300'000));
  EXPECT_EQ(inherits.retry.max_attempts, 3);
  EXPECT_EQ(inherits.retry.backoff, milliseconds(10'000));
  EXPECT_EQ(inherits.concurrency, ConcurrencyPolicy::kReplace);
  EXPECT_EQ(inherits.catch_up, CatchUpPolicy::kNone);
  EXPECT_EQ(inherits.starting_deadline, milliseconds(30'000));
  EXPECT_EQ(inherits.sandbox, SandboxMode::kBubblewrap);
  EXPECT_TRUE(inherits.network);

  const Job& overrides = file.jobs[1];
  EXPECT_EQ(overrides.timezone, "UTC");
  EXPECT_EQ(overrides.timeout, milliseconds(1000));
  // retry merges key by key: backoff still comes from defaults.
  EXPECT_EQ(overrides.retry.max_attempts, 7);
  EXPECT_EQ(overrides.retry.backoff, milliseconds(10'000));
  EXPECT_EQ(overrides.concurrency, ConcurrencyPolicy::kAllow);
  EXPECT_EQ(overrides.catch_up, CatchUpPolicy::kAll);
  EXPECT_EQ(overrides.starting_deadline, milliseconds(60'000));
  EXPECT_EQ(overrides.sandbox, SandboxMode::kNone);
  // network only applies to sandboxed jobs.
  EXPECT_FALSE(overrides.network);
}

TEST(JobFileTest, MicroVmSizeIsReadAndInheritedOnlyByMicroVmJobs) {
  JobFile file = MustParse(R"(clusters: [a]
defaults:
  sandbox: microvm
  microvm: {memory: 512MiB, vcpus: 2}
jobs:
  - name: inherits
    schedule: "* * * * *"
    cluster: a
    command: "true"
    network: true
  - name: own
    schedule: "* * * * *"
    cluster: a
    command: "true"
    microvm: {memory: 1GiB}
  - name: plain
    schedule: "* * * * *"
    cluster: a
    command: "true"
    sandbox: none
)");
  ASSERT_THAT(file.jobs, SizeIs(3));
  EXPECT_EQ(file.jobs[0].sandbox, SandboxMode::kMicroVm);
  EXPECT_TRUE(file.jobs[0].network);
  EXPECT_EQ(file.jobs[0].microvm_memory_mib, 512);
  EXPECT_EQ(file.jobs[0].microvm_vcpus, 2);
  // The mapping replaces the defaults' one key by key, like retry.
  EXPECT_EQ(file.jobs[1].microvm_memory_mib, 1024);
  EXPECT_EQ(file.jobs[1].microvm_vcpus, 2);
  EXPECT_EQ(file.jobs[2].sandbox, SandboxMode::kNone);
  EXPECT_EQ(file.jobs[2].microvm_memory_mib, 0);
  EXPECT_EQ(file.jobs[2].microvm_vcpus, 0);
  EXPECT_EQ(ToString(SandboxMode::kMicroVm), "microvm");
}

TEST(JobFileTest, MicroVmProblemsHaveTheirPosition) {
  EXPECT_THAT(Problems(OneJob("    sandbox: microvm\n    microvm: {memory: 32MiB, vcpus: 99}\n")),
              ElementsAre("jobs.yaml:8:23: microvm.memory: 32MiB is out of range (allowed "
                          "64MiB..16GiB, in whole MiB)",
                          "jobs.yaml:8:37: microvm.vcpus: 99 is out of range (allowed 1..16)"));
  EXPECT_THAT(Problems(OneJob("    sandbox: microvm\n    microvm: {memory: lots, cpus: 1}\n")),
              ElementsAre("jobs.yaml:8:23: microvm.memory: expected a size such as 256MiB or "
                          "1GiB (allowed 64MiB..16GiB, in whole MiB), got \"lots\"",
                          "jobs.yaml:8:29: unknown key \"cpus\" in microvm; did you mean "
                          "\"vcpus\"?"));
  EXPECT_THAT(Problems(OneJob("    microvm: {memory: 256MiB}\n")),
              ElementsAre("jobs.yaml:7:14: microvm: has no effect without sandbox: microvm"));
  EXPECT_THAT(Problems(OneJob("    sandbox: microvm\n    microvm: 256MiB\n")),
              ElementsAre("jobs.yaml:8:14: microvm: expected a mapping, got a scalar"));
}

TEST(JobFileTest, EmptyDefaultsIsAllowed) {
  EXPECT_THAT(MustParse("clusters: [a]\ndefaults:\njobs: []\n").clusters, SizeIs(1));
}

TEST(JobFileTest, JobOnlyKeysAreRejectedInDefaults) {
  EXPECT_THAT(Problems("clusters: [a]\ndefaults:\n  cluster: a\n"),
              ElementsAre(StartsWith("jobs.yaml:3:3: unknown key \"cluster\" in defaults")));
}

TEST(JobFileTest, BadDefaultIsReportedOnceAtDefaults) {
  EXPECT_THAT(
      Problems(R"(clusters: [a]
defaults:
  retry: {backoff: 10m}
  timezone: Mars/Olympus
jobs:
  - {name: x, schedule: "* * * * *", cluster: a, command: "true"}
  - {name: y, schedule: "* * * * *", cluster: a, command: "true"}
)"),
      ElementsAre("jobs.yaml:3:20: retry.max_backoff 5m is less than retry.backoff 10m",
                  StartsWith("jobs.yaml:4:13: timezone: unknown time zone \"Mars/Olympus\"")));
}

// ---- YAML-level problems -----------------------------------------------------------------

TEST(JobFileTest, YamlSyntaxErrorHasPosition) {
  EXPECT_THAT(Problems("clusters: [a, b\njobs: []\n"),
              ElementsAre("jobs.yaml:2:5: YAML syntax error: end of sequence flow not found"));
  EXPECT_THAT(Problems("clusters: [a]\njobs:\n  - name: a: b\n"),
              ElementsAre("jobs.yaml:3:12: YAML syntax error: illegal map value"));
  EXPECT_THAT(
      Problems("clusters: *nowhere\n"),
      ElementsAre("jobs.yaml:1:11: YAML syntax error: the referenced anchor is not defined"));
}

TEST(JobFileTest, EmptyFile) {
  EXPECT_THAT(Problems(""), ElementsAre(StartsWith("jobs.yaml:1:1: the job file is empty")));
  EXPECT_THAT(Problems("# only a comment\n"),
              ElementsAre(StartsWith("jobs.yaml:1:1: the job file is empty")));
}

TEST(JobFileTest, TopLevelMustBeAMapping) {
  EXPECT_THAT(Problems("- a\n- b\n"),
              ElementsAre("jobs.yaml:1:1: job file: expected a mapping, got a list"));
  EXPECT_THAT(Problems("hello\n"),
              ElementsAre("jobs.yaml:1:1: job file: expected a mapping, got a scalar"));
}

// yaml-cpp 0.7 loops forever on these in LoadAll and silently drops the tail in Load.
TEST(JobFileTest, TextAfterTheDocumentIsAnError) {
  EXPECT_THAT(Problems(","), ElementsAre("jobs.yaml:1:1: YAML syntax error: unexpected text "
                                         "after the end of the document"));
  EXPECT_THAT(Problems("{clusters: [a]}, x\n"),
              ElementsAre("jobs.yaml:1:16: YAML syntax error: unexpected text after the end of "
                          "the document"));
}

TEST(JobFileTest, OnlyOneDocument) {
  EXPECT_THAT(Problems("clusters: [a]\n---\nclusters: [b]\n"),
              ElementsAre("jobs.yaml:2:1: only one YAML document is allowed in a job file"));
  EXPECT_THAT(Problems("clusters: [a]\n--- [\n"),
              ElementsAre("jobs.yaml:3:1: YAML syntax error: end of sequence flow not found"));
  // An empty trailing document (a stray `---`) is harmless.
  EXPECT_THAT(Problems("---\nclusters: [a]\n---\n"), IsEmpty());
}

TEST(JobFileTest, UnknownKeysWithSuggestion) {
  EXPECT_THAT(
      Problems("clusters: [a]\njob: []\n"),
      ElementsAre("jobs.yaml:2:1: unknown key \"job\" in job file; did you mean \"jobs\"?"));
  EXPECT_THAT(Problems(OneJob("    timout: 30s\n    retry: {max_atempts: 2}\n")),
              ElementsAre("jobs.yaml:7:5: unknown key \"timout\" in job; did you mean \"timeout\"?",
                          "jobs.yaml:8:13: unknown key \"max_atempts\" in retry; did you mean "
                          "\"max_attempts\"?"));
}

TEST(JobFileTest, UnknownKeyFarFromAnyListsTheKnownKeys) {
  EXPECT_THAT(Problems(OneJob("    owner: me\n")),
              ElementsAre("jobs.yaml:7:5: unknown key \"owner\" in job (known keys: name, "
                          "schedule, timezone, cluster, command, timeout, retry, concurrency, "
                          "catch_up, starting_deadline, sandbox, network, microvm, user, env, "
                          "dispatch_ahead)"));
}

TEST(JobFileTest, DuplicateKeys) {
  EXPECT_THAT(Problems(OneJob("    command: echo again\n")),
              ElementsAre("jobs.yaml:7:5: duplicate key \"command\" (first at line 6)"));
  EXPECT_THAT(
      Problems(OneJob("    retry: {backoff: 1s, backoff: 2s}\n")),
      ElementsAre("jobs.yaml:7:26: duplicate key \"backoff\" (first at line 7, column 13)"));
  EXPECT_THAT(Problems("clusters: [a]\nclusters: [b]\n"),
              ElementsAre("jobs.yaml:2:1: duplicate key \"clusters\" (first at line 1)"));
}

TEST(JobFileTest, KeysMustBeStrings) {
  EXPECT_THAT(Problems("clusters: [a]\n[x]: 1\n"),
              ElementsAre("jobs.yaml:2:1: job file: keys must be plain strings, got a list"));
}

// ---- Required keys and types -------------------------------------------------------------

TEST(JobFileTest, MissingRequiredKeys) {
  EXPECT_THAT(Problems("jobs: []\n"),
              ElementsAre(StartsWith("jobs.yaml:1:1: missing required key \"clusters\"")));
  EXPECT_THAT(Problems("clusters: [a]\njobs:\n  - name: x\n    cluster: a\n"),
              ElementsAre("jobs.yaml:3:5: job \"x\" is missing required key \"schedule\"",
                          "jobs.yaml:3:5: job \"x\" is missing required key \"command\""));
  EXPECT_THAT(Problems("clusters: [a]\njobs:\n  - command: x\n"),
              ElementsAre("jobs.yaml:3:5: job is missing required key \"name\"",
                          "jobs.yaml:3:5: job is missing required key \"schedule\"",
                          "jobs.yaml:3:5: job is missing required key \"cluster\""));
}

TEST(JobFileTest, WrongTypes) {
  EXPECT_THAT(Problems("clusters: a\n"),
              ElementsAre("jobs.yaml:1:11: clusters: expected a list of cluster names, got a "
                          "scalar"));
  EXPECT_THAT(Problems("clusters: [a]\njobs: {name: x}\n"),
              ElementsAre("jobs.yaml:2:7: jobs: expected a list of jobs, got a mapping"));
  EXPECT_THAT(Problems("clusters: [a]\njobs:\n  - just a string\n"),
              ElementsAre("jobs.yaml:3:5: job: expected a mapping, got a scalar"));
  EXPECT_THAT(Problems("clusters: [a, [b]]\n"),
              ElementsAre("jobs.yaml:1:15: clusters: expected a cluster name, got a list"));
  EXPECT_THAT(Problems("clusters: [a]\ndefaults: [x]\n"),
              ElementsAre("jobs.yaml:2:11: defaults: expected a mapping, got a list"));
  EXPECT_THAT(
      Problems(OneJob("    timeout: {s: 1}\n    retry: 3\n    network: [true]\n"
                      "    concurrency: [allow]\n    retry_on_typo_free: 1\n")),
      ElementsAre(
          "jobs.yaml:7:14: timeout: expected a duration such as 30s or 1h30m, got a mapping",
          "jobs.yaml:8:12: retry: expected a mapping, got a scalar",
          "jobs.yaml:9:14: network: expected true or false, got a list",
          "jobs.yaml:10:18: concurrency: expected one of allow, forbid, replace, got a list",
          StartsWith("jobs.yaml:11:5: unknown key \"retry_on_typo_free\" in job")));
}

TEST(JobFileTest, ListWhereStringExpected) {
  EXPECT_THAT(Problems(R"(clusters: [a]
jobs:
  - name: [x]
    schedule: {a: 1}
    cluster: [a]
    command: [echo, hi]
)"),
              ElementsAre("jobs.yaml:3:11: name: expected a string, got a list",
                          "jobs.yaml:4:15: schedule: expected a string, got a mapping",
                          "jobs.yaml:5:14: cluster: expected a string, got a list",
                          "jobs.yaml:6:14: command: expected a string, got a list"));
}

TEST(JobFileTest, EmptyValuePointsAtItsKey) {
  EXPECT_THAT(
      Problems(OneJob("    timeout:\n    sandbox:\n")),
      ElementsAre(
          "jobs.yaml:7:5: timeout: expected a duration such as 30s or 1h30m, got nothing",
          "jobs.yaml:8:5: sandbox: expected one of none, bubblewrap, microvm, got nothing"));
}

// ---- Names and clusters ------------------------------------------------------------------

TEST(JobFileTest, InvalidJobNames) {
  const std::string kRule =
      " is not a valid job name (use 1..100 characters from a-z, 0-9, "
      "'.', '_', '-')";
  for (const std::string& name : std::vector<std::string>{"Upper", "with space", "slash/name",
                                                          "\"\"", std::string(101, 'x')}) {
    SCOPED_TRACE(name);
    std::vector<std::string> problems = Problems("clusters: [a]\njobs:\n  - {name: " + name +
                                                 ", schedule: '* * * * *', cluster: a, "
                                                 "command: x}\n");
    ASSERT_THAT(problems, SizeIs(1));
    EXPECT_THAT(problems[0], StartsWith("jobs.yaml:3:12: name: \""));
    EXPECT_THAT(problems[0], HasSubstr(kRule));
  }
}

TEST(JobFileTest, DuplicateJobNamePointsAtSecondAndNamesFirstLine) {
  EXPECT_THAT(Problems(R"(clusters: [a]
jobs:
  - name: x
    schedule: "* * * * *"
    cluster: a
    command: "true"
  - name: y
    schedule: "* * * * *"
    cluster: a
    command: "true"
  - name: x
    schedule: "* * * * *"
    cluster: a
    command: "true"
)"),
              ElementsAre("jobs.yaml:11:11: name: duplicate job name \"x\" (first defined at "
                          "line 3)"));
}

TEST(JobFileTest, UnknownCluster) {
  EXPECT_THAT(
      Problems(R"(clusters: [cluster-a, cluster-b]
jobs:
  - {name: x, schedule: "* * * * *", cluster: cluster-c, command: "true"}
  - {name: y, schedule: "* * * * *", cluster: elsewhere, command: "true"}
)"),
      ElementsAre("jobs.yaml:3:47: cluster: unknown cluster \"cluster-c\"; did you mean "
                  "\"cluster-a\"?",
                  "jobs.yaml:4:47: cluster: unknown cluster \"elsewhere\" (clusters: cluster-a, "
                  "cluster-b)"));
}

TEST(JobFileTest, ClusterListProblems) {
  EXPECT_THAT(Problems("clusters: []\n"),
              ElementsAre("jobs.yaml:1:11: clusters: must list at least one cluster"));
  EXPECT_THAT(Problems("clusters: [a, a]\n"),
              ElementsAre("jobs.yaml:1:15: clusters: duplicate cluster \"a\" (first at line 1, "
                          "column 12)"));
  EXPECT_THAT(Problems("clusters:\n  - ok\n  - Not_OK\n"),
              ElementsAre(StartsWith("jobs.yaml:3:5: clusters: \"Not_OK\" is not a valid cluster "
                                     "name")));
  // A job on a cluster whose definition was rejected is not reported twice over.
  EXPECT_THAT(
      Problems("clusters: [a, B]\njobs:\n  - {name: x, schedule: '* * * * *', cluster: a, "
               "command: x}\n"),
      ElementsAre(StartsWith("jobs.yaml:1:15: clusters: \"B\" is not a valid cluster name")));
}

// ---- Schedule, zone, durations -----------------------------------------------------------

TEST(JobFileTest, BadScheduleReportsCronErrorAtTheValue) {
  std::vector<std::string> problems =
      Problems(OneJob().replace(OneJob().find("\"* * * * *\""), 11, "\"61 * * * *\""));
  ASSERT_THAT(problems, SizeIs(1));
  EXPECT_THAT(problems[0], StartsWith("jobs.yaml:4:15: schedule \"61 * * * *\": "));
  EXPECT_THAT(problems[0], HasSubstr("61"));
}

TEST(JobFileTest, EmptySchedule) {
  EXPECT_THAT(
      Problems("clusters: [a]\njobs:\n  - {name: x, schedule: '', cluster: a, command: x}\n"),
      ElementsAre("jobs.yaml:3:25: schedule: must not be empty"));
}

TEST(JobFileTest, BadZoneSuggestsTheClosestAndStillChecksTheSchedule) {
  std::vector<std::string> problems = Problems(R"(clusters: [a]
jobs:
  - name: x
    schedule: "61 * * * *"
    timezone: Europe/Dublinn
    cluster: a
    command: "true"
  - name: y
    schedule: "* * * * *"
    timezone: Nowhere/Atall
    cluster: a
    command: "true"
)");
  ASSERT_THAT(problems, SizeIs(3));
  EXPECT_THAT(problems[0], StartsWith("jobs.yaml:4:15: schedule \"61 * * * *\": "));
  EXPECT_EQ(problems[1],
            "jobs.yaml:5:15: timezone: unknown time zone \"Europe/Dublinn\" (use an IANA name "
            "such as Europe/Dublin or UTC); did you mean \"Europe/Dublin\"?");
  EXPECT_EQ(problems[2],
            "jobs.yaml:10:15: timezone: unknown time zone \"Nowhere/Atall\" (use an IANA name "
            "such as Europe/Dublin or UTC)");
}

TEST(JobFileTest, BadDurations) {
  EXPECT_THAT(
      Problems(OneJob("    timeout: 30x\n    starting_deadline: 30\n"
                      "    retry: {backoff: 0s, max_backoff: soon}\n")),
      ElementsAre(
          "jobs.yaml:7:14: timeout: \"30x\": unknown unit \"x\" (use ms, s, m, h or d)",
          "jobs.yaml:8:24: starting_deadline: \"30\": missing unit after 30 (use ms, s, m, h or d)",
          "jobs.yaml:9:22: retry.backoff: \"0s\": must be positive",
          StartsWith("jobs.yaml:9:39: retry.max_backoff: \"soon\": expected a number")));
}

// ---- dispatch_ahead ----------------------------------------------------------------------

TEST(JobFileTest, DispatchAheadIsUnsetByDefaultAndReadInJobsAndDefaults) {
  EXPECT_EQ(MustParse(OneJob()).jobs.at(0).dispatch_ahead, std::nullopt);
  EXPECT_EQ(MustParse(OneJob("    dispatch_ahead: 1500ms\n")).jobs.at(0).dispatch_ahead,
            milliseconds(1500));
  EXPECT_EQ(MustParse(OneJob("    dispatch_ahead: 1m\n")).jobs.at(0).dispatch_ahead,
            milliseconds(60'000));
  for (const char* zero : {"0", "0s", "0ms"}) {
    EXPECT_EQ(MustParse(OneJob(std::string("    dispatch_ahead: ") + zero + "\n"))
                  .jobs.at(0)
                  .dispatch_ahead,
              milliseconds(0))
        << zero;
  }
  JobFile file = MustParse(R"(clusters: [a]
defaults:
  dispatch_ahead: 5s
jobs:
  - name: inherits
    schedule: "* * * * *"
    cluster: a
    command: "true"
  - name: overrides
    schedule: "* * * * *"
    cluster: a
    command: "true"
    dispatch_ahead: 0
)");
  ASSERT_THAT(file.jobs, SizeIs(2));
  EXPECT_EQ(file.jobs[0].dispatch_ahead, milliseconds(5000));
  EXPECT_EQ(file.jobs[1].dispatch_ahead, milliseconds(0));
}

TEST(JobFileTest, DispatchAheadOutOfRange) {
  EXPECT_THAT(Problems(OneJob("    dispatch_ahead: -1s\n")),
              ElementsAre("jobs.yaml:7:21: dispatch_ahead: \"-1s\" is negative (allowed 0..1m)"));
  EXPECT_THAT(Problems(OneJob("    dispatch_ahead: 61s\n")),
              ElementsAre("jobs.yaml:7:21: dispatch_ahead: \"61s\" is too long (allowed 0..1m): "
                          "a worker holds an early run in memory until its instant"));
  EXPECT_THAT(Problems(OneJob("    dispatch_ahead: 2\n")),
              ElementsAre("jobs.yaml:7:21: dispatch_ahead: \"2\": missing unit after 2 (use ms, "
                          "s, m, h or d)"));
  EXPECT_THAT(Problems(OneJob("    dispatch_ahead: [2s]\n")),
              ElementsAre("jobs.yaml:7:21: dispatch_ahead: expected a duration such as 2s "
                          "(allowed 0..1m), got a list"));
  EXPECT_THAT(Problems("clusters: [a]\ndefaults:\n  dispatch_ahead: 2m\njobs: []\n"),
              ElementsAre(StartsWith("jobs.yaml:3:19: dispatch_ahead: \"2m\" is too long")));
}

// ---- Retry -------------------------------------------------------------------------------

TEST(JobFileTest, RetryValuesOutOfRange) {
  EXPECT_THAT(Problems(OneJob("    retry:\n"
                              "      max_attempts: 0\n"
                              "      multiplier: 0.5\n"
                              "      jitter: 1.5\n")),
              ElementsAre("jobs.yaml:8:21: retry.max_attempts: 0 is out of range (allowed 1..100)",
                          "jobs.yaml:9:19: retry.multiplier: 0.5 is out of range (allowed 1..10)",
                          "jobs.yaml:10:15: retry.jitter: 1.5 is out of range (allowed 0..1)"));
  EXPECT_THAT(
      Problems(OneJob("    retry: {max_attempts: 101, multiplier: 11, jitter: -0.1}\n")),
      ElementsAre("jobs.yaml:7:27: retry.max_attempts: 101 is out of range (allowed 1..100)",
                  "jobs.yaml:7:44: retry.multiplier: 11 is out of range (allowed 1..10)",
                  "jobs.yaml:7:56: retry.jitter: -0.1 is out of range (allowed 0..1)"));
}

TEST(JobFileTest, RetryValuesOfTheWrongKind) {
  EXPECT_THAT(
      Problems(OneJob("    retry: {max_attempts: 2.5, multiplier: two, jitter: .nan}\n")),
      ElementsAre("jobs.yaml:7:27: retry.max_attempts: expected an integer (allowed 1..100), "
                  "got \"2.5\"",
                  "jobs.yaml:7:44: retry.multiplier: expected a number (allowed 1..10), got "
                  "\"two\"",
                  "jobs.yaml:7:57: retry.jitter: expected a number (allowed 0..1), got \".nan\""));
  EXPECT_THAT(Problems(OneJob("    retry: {max_attempts: 99999999999999999999}\n")),
              ElementsAre("jobs.yaml:7:27: retry.max_attempts: \"99999999999999999999\" is out "
                          "of range (allowed 1..100)"));
}

TEST(JobFileTest, MaxBackoffBelowBackoff) {
  EXPECT_THAT(Problems(OneJob("    retry: {backoff: 10s, max_backoff: 5s}\n")),
              ElementsAre("jobs.yaml:7:40: retry.max_backoff 5s is less than retry.backoff 10s"));
  // Against the built-in max_backoff of 5m, reported at the value that was written.
  EXPECT_THAT(Problems(OneJob("    retry: {backoff: 1h}\n")),
              ElementsAre("jobs.yaml:7:22: retry.max_backoff 5m is less than retry.backoff 1h"));
  EXPECT_THAT(Problems(OneJob("    retry: {backoff: 10s, max_backoff: 10s}\n")), IsEmpty());
}

TEST(JobFileTest, RetryOn) {
  EXPECT_THAT(
      Problems(OneJob("    retry: {retry_on: [failed, timedout, failed, [x]]}\n")),
      ElementsAre("jobs.yaml:7:32: retry.retry_on: \"timedout\" is not one of failed, timed_out; "
                  "did you mean \"timed_out\"?",
                  "jobs.yaml:7:42: retry.retry_on: \"failed\" is listed twice",
                  "jobs.yaml:7:50: retry.retry_on: expected one of failed, timed_out, got a list"));
  EXPECT_THAT(Problems(OneJob("    retry: {retry_on: failed}\n")),
              ElementsAre("jobs.yaml:7:23: retry.retry_on: expected a list of failed, timed_out, "
                          "got a scalar"));
  // An empty list is allowed: the job is never retried.
  JobFile file = MustParse(OneJob("    retry: {max_attempts: 3, retry_on: []}\n"));
  ASSERT_THAT(file.jobs, SizeIs(1));
  EXPECT_THAT(file.jobs[0].retry.RetryOn(), IsEmpty());
}

// ---- Enums, booleans, command -----------------------------------------------------------

TEST(JobFileTest, BadEnumValues) {
  EXPECT_THAT(
      Problems(OneJob("    concurrency: forbidd\n    catch_up: sometimes\n    sandbox: docker\n")),
      ElementsAre("jobs.yaml:7:18: concurrency: \"forbidd\" is not one of allow, forbid, "
                  "replace; did you mean \"forbid\"?",
                  "jobs.yaml:8:15: catch_up: \"sometimes\" is not one of none, last, all",
                  "jobs.yaml:9:14: sandbox: \"docker\" is not one of none, bubblewrap, microvm"));
}

TEST(JobFileTest, NetworkIsABooleanAndNeedsTheSandbox) {
  EXPECT_THAT(Problems(OneJob("    sandbox: bubblewrap\n    network: yes\n")),
              ElementsAre("jobs.yaml:8:14: network: expected true or false, got \"yes\""));
  EXPECT_THAT(Problems(OneJob("    network: true\n")),
              ElementsAre("jobs.yaml:7:14: network: true has no effect without sandbox: "
                          "bubblewrap or microvm (unsandboxed commands always have the network)"));
  EXPECT_THAT(Problems(OneJob("    network: false\n")), IsEmpty());
}

TEST(JobFileTest, UserIsAValidNameAndNotWithASandbox) {
  JobFile file = MustParse(OneJob("    user: backup\n"));
  ASSERT_THAT(file.jobs, SizeIs(1));
  EXPECT_EQ(file.jobs[0].user, "backup");
  EXPECT_EQ(MustParse(OneJob()).jobs[0].user, "");
  EXPECT_THAT(Problems(OneJob("    user: \"-rf\"\n")),
              ElementsAre("jobs.yaml:7:11: user: \"-rf\" is not a valid user name (1..32 of "
                          "a-z A-Z 0-9 _ . -, not starting with '-', not all digits)"));
  EXPECT_THAT(Problems(OneJob("    user: 1000\n")), SizeIs(1));
  EXPECT_THAT(Problems(OneJob("    sandbox: bubblewrap\n    user: backup\n")),
              ElementsAre("jobs.yaml:8:11: user: cannot be combined with sandbox: bubblewrap "
                          "(the sandbox runs the command as its own unprivileged user)"));
}

TEST(JobFileTest, UserFromDefaultsIsDroppedForSandboxedJobs) {
  JobFile file = MustParse(R"(clusters: [a]
defaults:
  user: backup
jobs:
  - {name: plain, schedule: '* * * * *', cluster: a, command: 'true'}
  - {name: boxed, schedule: '* * * * *', cluster: a, command: 'true', sandbox: bubblewrap}
  - {name: own, schedule: '* * * * *', cluster: a, command: 'true', user: www-data}
)");
  ASSERT_THAT(file.jobs, SizeIs(3));
  EXPECT_EQ(file.jobs[0].user, "backup");
  EXPECT_EQ(file.jobs[1].user, "");
  EXPECT_EQ(file.jobs[2].user, "www-data");
  // Interned: a million jobs of one user hold one copy.
  EXPECT_EQ(file.jobs[0].user.data(), MustParse(OneJob("    user: backup\n")).jobs[0].user.data());
}

TEST(JobFileTest, EnvIsReadSortedByName) {
  JobFile file =
      MustParse(OneJob("    env:\n      TZ: Europe/Dublin\n      PATH: /opt/x/bin:/usr/bin\n"
                       "      PORT: 8080\n      EMPTY: ''\n"));
  ASSERT_THAT(file.jobs, SizeIs(1));
  ASSERT_NE(file.jobs[0].env, nullptr);
  // Any scalar as written (8080 is the string "8080"); PATH and TZ may be set like any other.
  EXPECT_THAT(*file.jobs[0].env, ElementsAre(Pair("EMPTY", ""), Pair("PATH", "/opt/x/bin:/usr/bin"),
                                             Pair("PORT", "8080"), Pair("TZ", "Europe/Dublin")));
  EXPECT_EQ(MustParse(OneJob()).jobs[0].env, nullptr);
  EXPECT_EQ(MustParse(OneJob("    env: {}\n")).jobs[0].env, nullptr);
}

TEST(JobFileTest, EnvOfAJobOverridesTheDefaultsNameByName) {
  JobFile file = MustParse(R"(clusters: [a]
defaults:
  env: {LANG: C.UTF-8, REGION: eu}
jobs:
  - {name: plain, schedule: '* * * * *', cluster: a, command: 'true'}
  - {name: also, schedule: '* * * * *', cluster: a, command: 'true'}
  - {name: own, schedule: '* * * * *', cluster: a, command: 'true', env: {REGION: us, X: '1'}}
)");
  ASSERT_THAT(file.jobs, SizeIs(3));
  EXPECT_THAT(*file.jobs[0].env, ElementsAre(Pair("LANG", "C.UTF-8"), Pair("REGION", "eu")));
  // Shared, not copied per job: a million jobs that inherit their env hold one copy.
  EXPECT_EQ(file.jobs[0].env, file.jobs[1].env);
  EXPECT_THAT(*file.jobs[2].env,
              ElementsAre(Pair("LANG", "C.UTF-8"), Pair("REGION", "us"), Pair("X", "1")));
}

TEST(JobFileTest, EnvNamesAreCheckedWithTheirPosition) {
  const std::string invalid =
      "\" is not a valid variable name (1..256 of A-Z a-z 0-9 _, not starting with a digit)";
  const std::string reserved = "\" is reserved (krond sets the KROND_* variables of every run)";
  EXPECT_THAT(
      Problems(OneJob("    env:\n      1ST: x\n      A-B: x\n      OK_1: x\n")),
      ElementsAre("jobs.yaml:8:7: env: \"1ST" + invalid, "jobs.yaml:9:7: env: \"A-B" + invalid));
  EXPECT_THAT(Problems(OneJob("    env: {KROND_JOB: x}\n")),
              ElementsAre("jobs.yaml:7:11: env: \"KROND_JOB" + reserved));
  // In `defaults:` too, at its own line.
  EXPECT_THAT(Problems("clusters: [a]\ndefaults:\n  env:\n    KROND_FENCE: '1'\njobs: []\n"),
              ElementsAre("jobs.yaml:4:5: env: \"KROND_FENCE" + reserved));
  EXPECT_THAT(Problems(OneJob("    env: {A: x, A: y}\n")),
              ElementsAre("jobs.yaml:7:17: env: duplicate variable \"A\" (first at line 7, "
                          "column 11)"));
}

TEST(JobFileTest, EnvValuesAreStringsAndBounded) {
  EXPECT_THAT(Problems(OneJob("    env: [A]\n")),
              ElementsAre("jobs.yaml:7:10: env: expected a mapping of variable names to values, "
                          "got a list"));
  EXPECT_THAT(Problems(OneJob("    env:\n      A: [1, 2]\n")),
              ElementsAre("jobs.yaml:8:10: env.A: expected a string, got a list"));
  EXPECT_THAT(Problems(OneJob("    env:\n      A:\n")),
              ElementsAre("jobs.yaml:8:7: env.A: expected a string, got nothing"));
  const std::string big(config::kMaxEnvBytes, 'x');
  EXPECT_THAT(Problems(OneJob("    env: {A: " + big + "}\n")),
              ElementsAre("jobs.yaml:7:10: env: 16385 bytes of names and values, at most 16384 "
                          "(a run travels in one Kafka message)"));
}

TEST(JobFileTest, EmptyCommand) {
  EXPECT_THAT(Problems("clusters: [a]\njobs:\n  - {name: x, schedule: '* * * * *', cluster: a, "
                       "command: '  '}\n"),
              ElementsAre("jobs.yaml:3:59: command: must not be empty"));
}

// ---- Reporting ---------------------------------------------------------------------------

TEST(JobFileTest, EveryProblemIsReportedInFileOrder) {
  std::vector<std::string> problems = Problems(R"(clusters: [a, a]
defaults:
  timeout: never
jobs:
  - name: Bad Name
    schedule: "* * * * *"
    cluster: b
    command: "true"
    retry: {max_attempts: 0}
  - name: ok
    schedule: "* * * * *"
    cluster: a
    concurrency: sometimes
extra: 1
)");
  EXPECT_THAT(problems,
              ElementsAre(StartsWith("jobs.yaml:1:15: clusters: duplicate cluster"),
                          StartsWith("jobs.yaml:3:12: timeout: \"never\""),
                          StartsWith("jobs.yaml:5:11: name: \"Bad Name\" is not a valid job name"),
                          StartsWith("jobs.yaml:7:14: cluster: unknown cluster \"b\""),
                          StartsWith("jobs.yaml:9:27: retry.max_attempts: 0 is out of range"),
                          "jobs.yaml:10:5: job \"ok\" is missing required key \"command\"",
                          StartsWith("jobs.yaml:13:18: concurrency: \"sometimes\""),
                          StartsWith("jobs.yaml:14:1: unknown key \"extra\" in job file")));
}

TEST(JobFileTest, ProblemToString) {
  EXPECT_EQ((Problem{"f.yaml", 3, 7, "bad"}).ToString(), "f.yaml:3:7: bad");
  EXPECT_EQ((Problem{"f.yaml", 0, 0, "cannot open"}).ToString(), "f.yaml: cannot open");
}

TEST(JobFileTest, LongValuesAreTruncatedInMessages) {
  std::vector<std::string> problems =
      Problems(OneJob("    sandbox: " + std::string(1000, 'z') + "\n"));
  ASSERT_THAT(problems, SizeIs(1));
  EXPECT_LT(problems[0].size(), 200u);
  EXPECT_THAT(problems[0], HasSubstr("...\""));
}

// ---- Streaming: key order, anchors, large files --------------------------------------------

TEST(JobFileTest, JobsBeforeClustersAndDefaultsUseThem) {
  JobFile file = MustParse(R"(jobs:
  - {name: a, schedule: "0 * * * *", cluster: y, command: "true"}
  - {name: b, schedule: "0 * * * *", cluster: x, command: "true", timezone: UTC}
clusters: [x, y]
defaults:
  timezone: Asia/Tokyo
  retry: {max_attempts: 3}
)");
  EXPECT_THAT(file.clusters, ElementsAre("x", "y"));
  ASSERT_THAT(file.jobs, SizeIs(2));
  EXPECT_EQ(file.jobs[0].name, "a");
  EXPECT_EQ(file.jobs[0].line, 2);
  EXPECT_EQ(file.jobs[0].timezone, "Asia/Tokyo");
  EXPECT_EQ(file.jobs[0].schedule.zone()->name(), "Asia/Tokyo");
  EXPECT_EQ(file.jobs[0].retry.max_attempts, 3);
  EXPECT_EQ(file.jobs[1].timezone, "UTC");
  EXPECT_EQ(file.jobs[1].retry.max_attempts, 3);
}

TEST(JobFileTest, DefaultsAfterJobsStillApply) {
  JobFile file = MustParse(R"(clusters: [x]
jobs:
  - {name: a, schedule: "0 * * * *", cluster: x, command: "true"}
defaults: {timeout: 5m, concurrency: forbid}
)");
  ASSERT_THAT(file.jobs, SizeIs(1));
  EXPECT_EQ(file.jobs[0].timeout, milliseconds(300'000));
  EXPECT_EQ(file.jobs[0].concurrency, ConcurrencyPolicy::kForbid);
}

TEST(JobFileTest, JobsBeforeClustersAreCheckedOnceAgainstThem) {
  EXPECT_THAT(
      Problems(R"(jobs:
  - {name: a, schedule: "0 * * * *", cluster: cluster-c, command: "true"}
  - {name: a, schedule: "0 * * * *", cluster: cluster-a, command: "true"}
clusters: [cluster-a, cluster-b]
defaults: {timezone: Mars/Olympus}
)"),
      ElementsAre("jobs.yaml:2:47: cluster: unknown cluster \"cluster-c\"; did you mean "
                  "\"cluster-a\"?",
                  "jobs.yaml:3:12: name: duplicate job name \"a\" (first defined at line 2)",
                  StartsWith("jobs.yaml:5:22: timezone: unknown time zone")));
  // Without any clusters, every job's cluster is unknown, as when clusters come first.
  EXPECT_THAT(Problems("jobs:\n  - {name: a, schedule: '* * * * *', cluster: x, command: t}\n"),
              ElementsAre("jobs.yaml:1:1: missing required key \"clusters\" (the clusters jobs "
                          "run on)",
                          "jobs.yaml:2:47: cluster: unknown cluster \"x\""));
}

TEST(JobFileTest, AnchorsWorkAcrossJobsAndTopLevelKeys) {
  JobFile file = MustParse(R"(clusters: [&main a, b]
defaults:
  retry: &retry {max_attempts: 4}
jobs:
  - name: one
    schedule: &hourly "0 * * * *"
    cluster: *main
    command: &cmd run it
  - {name: two, schedule: *hourly, cluster: b, command: *cmd, retry: *retry}
  - &three {name: three, schedule: *hourly, cluster: *main, command: *cmd}
)");
  ASSERT_THAT(file.jobs, SizeIs(3));
  EXPECT_EQ(file.jobs[1].schedule.text(), "0 * * * *");
  EXPECT_EQ(file.jobs[1].command, "run it");
  EXPECT_EQ(file.jobs[1].retry.max_attempts, 4);
  EXPECT_EQ(file.jobs[2].cluster, "a");
  // An alias repeats the node, position included: the duplicate is reported where it was
  // first written.
  EXPECT_THAT(Problems(R"(clusters: [a]
jobs:
  - &x {name: x, schedule: "0 * * * *", cluster: a, command: "true"}
  - *x
)"),
              ElementsAre("jobs.yaml:3:15: name: duplicate job name \"x\" (first defined at line "
                          "3)"));
}

// Issue 19: one 1 MB anchored command aliased by 300 jobs peaked at 304 MB while loading.
// A command is capped, whatever repeats it.
TEST(JobFileTest, ACommandLongerThanAMessageHoldsIsRejected) {
  std::string text =
      "clusters: [a]\njobs:\n  - {name: j0, schedule: '@daily', cluster: a, "
      "command: &big " +
      std::string(1 << 20, 'x') + "}\n";
  for (int i = 1; i < 300; ++i) {
    text +=
        "  - {name: j" + std::to_string(i) + ", schedule: '@daily', cluster: a, command: *big}\n";
  }
  const std::vector<std::string> problems = Problems(text);
  ASSERT_THAT(problems, SizeIs(300));
  EXPECT_EQ(problems[0],
            "jobs.yaml:3:57: command: 1048576 bytes, at most 65536 (a run travels in "
            "one Kafka message)");
  // At the limit it is fine.
  EXPECT_THAT(
      Problems(OneJob().replace(OneJob().find("echo hi"), 7, std::string(kMaxCommandBytes, 'y'))),
      IsEmpty());
}

TEST(JobFileTest, AliasesMayNotMultiplyTheFileBeyondABound) {
  // 1,200 jobs repeat a 60 KiB command: 70 MB of commands from a 100 KB file.
  std::string text =
      "clusters: [a]\njobs:\n  - {name: j0, schedule: '@daily', cluster: a, command: &big " +
      std::string(60 * 1024, 'x') + "}\n";
  for (int i = 1; i < 1200; ++i) {
    text +=
        "  - {name: j" + std::to_string(i) + ", schedule: '@daily', cluster: a, command: *big}\n";
  }
  const std::vector<std::string> problems = Problems(text);
  ASSERT_THAT(problems, SizeIs(1));
  EXPECT_THAT(problems[0],
              HasSubstr("bytes of names, commands and env:, more than the file's size plus "
                        "64 MiB: anchors and aliases repeat too much text"));
  // The first job over the bound: about 64 MiB / 60 KiB + 2 jobs in (line 3 is the first).
  EXPECT_THAT(problems[0], StartsWith("jobs.yaml:1097:5: "));
}

// Issue 19: invalid UTF-8 in a command was silently rewritten to U+FFFD (workers then ran a
// different command than the file says), and a NUL byte passed `validate` and made every run
// spawn_failed.
TEST(JobFileTest, InvalidUtf8AndNulBytesAreRejectedWhereTheyAre) {
  EXPECT_THAT(
      Problems(OneJob().replace(OneJob().find("echo hi"), 7, "echo h\xFFi\xC3")),
      ElementsAre("jobs.yaml:6:20: invalid UTF-8 (byte 0xFF): a job file must be UTF-8 text",
                  "jobs.yaml:6:22: invalid UTF-8 (byte 0xC3): a job file must be UTF-8 text"));
  EXPECT_THAT(Problems(OneJob().replace(OneJob().find("echo hi"), 7, std::string("echo \0hi", 8))),
              ElementsAre("jobs.yaml:6:19: NUL byte: a job file must be text"));
  // Columns count characters, as yaml-cpp's do: é is one.
  EXPECT_THAT(
      Problems("# caf\xC3\xA9 \xED\xA0\x80\n"),
      ElementsAre("jobs.yaml:1:8: invalid UTF-8 (byte 0xED): a job file must be UTF-8 text",
                  "jobs.yaml:1:9: invalid UTF-8 (byte 0xA0): a job file must be UTF-8 text",
                  "jobs.yaml:1:10: invalid UTF-8 (byte 0x80): a job file must be UTF-8 text"));
  // Valid text with U+FFFD written out is just text.
  EXPECT_EQ(
      MustParse(OneJob().replace(OneJob().find("echo hi"), 7, "echo \xEF\xBF\xBD")).jobs[0].command,
      "echo \xEF\xBF\xBD");
}

TEST(JobFileTest, EncodingIsCheckedAcrossReadChunks) {
  // The file is read 64 KiB at a time: a character may straddle two reads.
  std::string comment = "# " + std::string(65536 - 3, 'c') + "\xE2\x82\xAC\n";
  ASSERT_EQ(comment.substr(65535, 3), "\xE2\x82\xAC");
  EXPECT_THAT(Problems(comment + OneJob()), IsEmpty());
  EXPECT_THAT(
      Problems(comment + "# \xFF\n" + OneJob()),
      ElementsAre("jobs.yaml:2:3: invalid UTF-8 (byte 0xFF): a job file must be UTF-8 text"));
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("krond-utf8-" + std::to_string(getpid()) + ".yaml");
  std::ofstream(path, std::ios::binary) << comment << "# \xFF\n" << OneJob();
  auto loaded = LoadJobFile(path.string());
  std::filesystem::remove(path);
  ASSERT_FALSE(loaded);
  ASSERT_THAT(loaded.error(), SizeIs(1));
  EXPECT_EQ(loaded.error()[0].line, 2);
  EXPECT_EQ(loaded.error()[0].column, 3);
}

TEST(JobFileTest, EveryPeriodsUnderASecondAreRejected) {
  EXPECT_THAT(Problems(OneJob().replace(OneJob().find("* * * * *"), 9, "@every 1ms")),
              ElementsAre("jobs.yaml:4:15: schedule \"@every 1ms\": @every 1ms: the period must "
                          "be at least 1s"));
}

TEST(JobFileTest, AnchoredDocumentOrJobListIsReadWhole) {
  // An alias can repeat these whole, even from inside themselves.
  EXPECT_THAT(MustParse("&doc\nclusters: [a]\njobs:\n  - {name: x, schedule: '* * * * *', "
                        "cluster: a, command: t}\n")
                  .jobs,
              SizeIs(1));
  EXPECT_THAT(Problems(R"(clusters: [a]
jobs: &all
  - {name: x, schedule: "* * * * *", cluster: a, command: "true", retry: {retry_on: *all}}
  - {name: y, schedule: "* * * * *", cluster: a, command: "true"}
)"),
              ElementsAre("jobs.yaml:3:5: retry.retry_on: expected one of failed, timed_out, got "
                          "a mapping",
                          "jobs.yaml:4:5: retry.retry_on: expected one of failed, timed_out, got "
                          "a mapping"));
}

TEST(JobFileTest, SyntaxErrorAfterCheckedJobsIsTheOnlyProblem) {
  EXPECT_THAT(Problems(R"(clusters: [a]
jobs:
  - {name: x, schedule: "61 * * * *", cluster: b, command: "true"}
  - {name: y
)"),
              ElementsAre(StartsWith("jobs.yaml:5:1: YAML syntax error: ")));
  EXPECT_THAT(Problems(R"(clusters: [a]
jobs:
  - {name: x, schedule: "61 * * * *", cluster: b, command: "true"}
---
x: 1
)"),
              ElementsAre("jobs.yaml:4:1: only one YAML document is allowed in a job file"));
}

TEST(JobFileTest, ZoneNamesAreSharedAndOutliveTheFile) {
  std::string yaml = "clusters: [a]\njobs:\n";
  for (int i = 0; i < 3; ++i) {
    yaml += "  - {name: j" + std::to_string(i) +
            ", schedule: '0 * * * *', cluster: a, command: x, timezone: America/New_York}\n";
  }
  std::optional<Job> kept;
  {
    JobFile file = MustParse(yaml);
    ASSERT_THAT(file.jobs, SizeIs(3));
    EXPECT_EQ(file.jobs[0].timezone.data(), file.jobs[2].timezone.data());
    kept = file.jobs[1];
  }
  EXPECT_EQ(kept->timezone, "America/New_York");
}

TEST(JobFileTest, JobStaysSmall) {
  // A scheduler holds a million of these (docs/benchmarks.md, "One million schedules").
  // 296 since `user:` (16 bytes, interned like the zone): 16 MB more per million jobs; 312
  // since `env:` (a shared pointer, 16 bytes); 320 since `dispatch_ahead:` (an optional of
  // 32-bit milliseconds: 8 bytes where std::chrono::milliseconds would take 16).
  EXPECT_LE(sizeof(Job), 320u);
}

// Job files of many jobs, in both YAML styles, with a problem every `bad_every` jobs.
std::string ManyJobs(int count, int bad_every = 0) {
  std::string yaml = "clusters: [a, b]\njobs:\n";
  for (int i = 0; i < count; ++i) {
    const std::string name = "job-" + std::to_string(i);
    const std::string schedule = bad_every > 0 && i % bad_every == 0 ? "61 * * * *" : "0 * * * *";
    if (i % 2 == 0) {
      yaml += "  - {name: " + name + ", schedule: '" + schedule +
              "', cluster: " + (i % 4 == 0 ? "a" : "b") + ", command: echo " + name + "}\n";
    } else {
      yaml += "  - name: " + name + "\n    schedule: '" + schedule +
              "'\n    cluster: a\n    command: echo " + name + "\n";
    }
  }
  return yaml;
}

TEST(JobFileTest, ManyJobsLoadInOrder) {
  constexpr int kCount = 20'000;  // more than one of the loader's blocks of jobs
  JobFile file = MustParse(ManyJobs(kCount));
  ASSERT_THAT(file.jobs, SizeIs(kCount));
  int line = 3;
  for (int i = 0; i < kCount; ++i) {
    ASSERT_EQ(file.jobs[i].name, "job-" + std::to_string(i));
    ASSERT_EQ(file.jobs[i].command, "echo job-" + std::to_string(i));
    ASSERT_EQ(file.jobs[i].line, line);
    line += i % 2 == 0 ? 1 : 4;
  }
  EXPECT_EQ(file.jobs.back().cluster, "a");
}

TEST(JobFileTest, ManyJobsReportEveryProblemAndDuplicate) {
  constexpr int kCount = 10'000;
  std::vector<std::string> problems = Problems(ManyJobs(kCount, 1000) +
                                               "  - {name: job-9999, schedule: '0 * * * *', "
                                               "cluster: a, command: x}\n");
  ASSERT_THAT(problems, SizeIs(kCount / 1000 + 1));
  EXPECT_THAT(problems[0], StartsWith("jobs.yaml:3:29: schedule \"61 * * * *\": "));
  EXPECT_THAT(problems.back(), HasSubstr("duplicate job name \"job-9999\" (first defined at line"));
}

// ---- Files and hostile input -------------------------------------------------------------

class LoadJobFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("krond_config_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }
  std::filesystem::path dir_;
};

TEST_F(LoadJobFileTest, ReadsAndParses) {
  const std::string path = Write("jobs.yaml", OneJob());
  auto file = LoadJobFile(path);
  ASSERT_TRUE(file.has_value());
  EXPECT_EQ(file->path, path);
  EXPECT_THAT(file->jobs, SizeIs(1));
}

TEST_F(LoadJobFileTest, ReadsALargeFile) {
  const std::string path = Write("many.yaml", ManyJobs(10'000));
  auto file = LoadJobFile(path);
  ASSERT_TRUE(file.has_value()) << file.error()[0].ToString();
  EXPECT_THAT(file->jobs, SizeIs(10'000));
}

TEST_F(LoadJobFileTest, ReadsTheFileAgainWhenJobsComeFirst) {
  const std::string path = Write("jobs.yaml", R"(jobs:
  - {name: a, schedule: "0 * * * *", cluster: x, command: "true"}
defaults: {timeout: 1m}
clusters: [x]
)");
  auto file = LoadJobFile(path);
  ASSERT_TRUE(file.has_value()) << file.error()[0].ToString();
  ASSERT_THAT(file->jobs, SizeIs(1));
  EXPECT_EQ(file->jobs[0].timeout, milliseconds(60'000));
}

TEST_F(LoadJobFileTest, LooksPastTheFirstDocumentInTheFile) {
  auto problems = [this](const std::string& text) {
    auto file = LoadJobFile(Write("jobs.yaml", text));
    std::vector<std::string> out;
    if (!file) {
      for (const Problem& p : file.error()) out.push_back(p.message);
    }
    return out;
  };
  EXPECT_THAT(problems("clusters: [a]\n---\nclusters: [b]\n"),
              ElementsAre("only one YAML document is allowed in a job file"));
  EXPECT_THAT(problems("{clusters: [a]}, x\n"),
              ElementsAre("YAML syntax error: unexpected text after the end of the document"));
  EXPECT_THAT(problems("---\nclusters: [a]\n---\n"), IsEmpty());
}

TEST_F(LoadJobFileTest, TooLargeIsOneProblemAtLineZero) {
  const std::string path = Write("huge.yaml", "clusters: [a]\n");
  // Sparse: the size is checked before anything is read.
  std::filesystem::resize_file(path, 257u * 1024 * 1024);
  auto file = LoadJobFile(path);
  ASSERT_FALSE(file.has_value());
  ASSERT_THAT(file.error(), SizeIs(1));
  EXPECT_EQ(file.error()[0].ToString(),
            path + ": job file is too large (more than 268435456 bytes)");
}

TEST_F(LoadJobFileTest, ReadsAPipe) {
  const std::string path = (dir_ / "fifo").string();
  ASSERT_EQ(::mkfifo(path.c_str(), 0600), 0);
  std::thread writer([&] { std::ofstream(path) << OneJob(); });
  auto file = LoadJobFile(path);
  writer.join();
  ASSERT_TRUE(file.has_value()) << file.error()[0].ToString();
  EXPECT_THAT(file->jobs, SizeIs(1));
}

TEST_F(LoadJobFileTest, ProblemsNameThePath) {
  const std::string path = Write("bad.yaml", "clusters: []\n");
  auto file = LoadJobFile(path);
  ASSERT_FALSE(file.has_value());
  EXPECT_THAT(file.error(), SizeIs(1));
  EXPECT_EQ(file.error()[0].ToString(), path + ":1:11: clusters: must list at least one cluster");
}

TEST_F(LoadJobFileTest, MissingFileIsOneProblemAtLineZero) {
  const std::string path = (dir_ / "missing.yaml").string();
  auto file = LoadJobFile(path);
  ASSERT_FALSE(file.has_value());
  ASSERT_THAT(file.error(), SizeIs(1));
  EXPECT_EQ(file.error()[0].line, 0);
  EXPECT_EQ(file.error()[0].ToString(), path + ": cannot open: No such file or directory");
}

TEST_F(LoadJobFileTest, DirectoryIsOneProblem) {
  auto file = LoadJobFile(dir_.string());
  ASSERT_FALSE(file.has_value());
  ASSERT_THAT(file.error(), SizeIs(1));
  EXPECT_EQ(file.error()[0].ToString(), dir_.string() + ": cannot read: Is a directory");
}

TEST(JobFileHostileInputTest, NeverThrowsAndAlwaysExplains) {
  const std::vector<std::string> inputs = {
      std::string(100'000, '['),
      [] {
        std::string s;
        for (int i = 0; i < 5000; ++i) s += "- ";
        return s + "x\n";
      }(),
      std::string("\xff\xfe\x00\x01clusters", 12),
      "clusters: [a]\njobs:\n  - &x {name: x, schedule: *x, cluster: a, command: x}\n",
      "? [a, {b: c}]\n: d\n",
      "clusters: !!binary aGVsbG8=\n",
      "%YAML 1.2\n---\nclusters: [a]\n",
      "\t\n\t- x\n",
      ",",
      "[:",
      "{:",
      "- !+(.,.)",
      "clusters: [a]\njobs:\n  - {name: x, schedule: '* * * * *', cluster: a, command: x},\n",
      std::string(17 * 1024 * 1024, ' '),
  };
  for (const std::string& input : inputs) {
    SCOPED_TRACE(input.substr(0, 40));
    tl::expected<JobFile, std::vector<Problem>> file;
    EXPECT_NO_THROW(file = ParseJobFile(input, "f"));
    if (!file) {
      ASSERT_THAT(file.error(), testing::Not(IsEmpty()));
      for (const Problem& p : file.error()) {
        EXPECT_GE(p.line, 1);
        EXPECT_GE(p.column, 1);
        EXPECT_FALSE(p.message.empty());
      }
    }
  }
}

}  // namespace
}  // namespace krond::config
