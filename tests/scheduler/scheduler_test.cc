#include "scheduler/scheduler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "scheduler/test_jobs.h"

namespace krond::scheduler {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using test_support::Jobs;
using test_support::Time;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

const SystemTime kT0 = Time("2026-03-08T00:00:00Z");

TEST(SchedulerTest, FiresAtExactInstantsStrictlyAfterStart) {
  // Starting exactly on a matching instant does not fire it: runs are strictly after start.
  Scheduler s(Jobs({{"a", "*/10 * * * * *"}}).jobs, kT0);
  EXPECT_THAT(s.Tick(kT0), IsEmpty());
  EXPECT_EQ(s.NextDispatchTime(), kT0 + seconds(10));
  EXPECT_THAT(s.Tick(kT0 + seconds(10) - milliseconds(1)), IsEmpty());
  EXPECT_THAT(s.Tick(kT0 + seconds(10)), ElementsAre(DueRun{0, kT0 + seconds(10)}));
  // The same instant again: nothing twice.
  EXPECT_THAT(s.Tick(kT0 + seconds(10)), IsEmpty());
  EXPECT_EQ(s.NextDispatchTime(), kT0 + seconds(20));
  EXPECT_EQ(s.NextFireOf("a"), kT0 + seconds(20));
}

TEST(SchedulerTest, LateTickReturnsEveryMissedRunInTimeThenJobOrder) {
  Scheduler s(Jobs({{"a", "*/10 * * * * *"}, {"b", "*/15 * * * * *"}}).jobs, kT0);
  EXPECT_THAT(s.Tick(kT0 + seconds(30)),
              ElementsAre(DueRun{0, kT0 + seconds(10)}, DueRun{1, kT0 + seconds(15)},
                          DueRun{0, kT0 + seconds(20)}, DueRun{0, kT0 + seconds(30)},
                          DueRun{1, kT0 + seconds(30)}));
  EXPECT_EQ(s.NextFireOf("a"), kT0 + seconds(40));
  EXPECT_EQ(s.NextFireOf("b"), kT0 + seconds(45));
}

TEST(SchedulerTest, ManyTicksNeverDuplicateOrSkip) {
  Scheduler s(Jobs({{"a", "*/10 * * * * *"}, {"b", "0 * * * *"}}).jobs, kT0);
  std::vector<DueRun> all;
  // Irregular tick instants, some repeated, some far apart.
  SystemTime now = kT0;
  for (int i = 0; i < 500; ++i) {
    now += milliseconds((i * 7919) % 23'000);
    for (const DueRun& r : s.Tick(now)) all.push_back(r);
    for (const DueRun& r : s.Tick(now)) all.push_back(r);
  }
  std::vector<DueRun> expected;
  for (SystemTime t = kT0 + seconds(10); t <= now; t += seconds(10)) {
    expected.push_back({0, t});
    if ((t - kT0) % hours(1) == milliseconds(0)) expected.push_back({1, t});
  }
  ASSERT_GT(expected.size(), 100u);
  EXPECT_EQ(all, expected);
}

TEST(SchedulerTest, EveryIsAnchoredAtStart) {
  const SystemTime start = kT0 + milliseconds(3'500);
  Scheduler s(Jobs({{"e", "@every 10s"}, {"c", "*/10 * * * * *"}}).jobs, start);
  EXPECT_EQ(s.NextFireOf("e"), start + seconds(10));
  EXPECT_EQ(s.NextFireOf("c"), kT0 + seconds(10));
  EXPECT_THAT(s.Tick(start + seconds(20)),
              ElementsAre(DueRun{1, kT0 + seconds(10)}, DueRun{0, start + seconds(10)},
                          DueRun{1, kT0 + seconds(20)}, DueRun{0, start + seconds(20)}));
}

TEST(SchedulerTest, NextDispatchTimeIsTheEarliestPendingFire) {
  Scheduler s(Jobs({{"hourly", "0 * * * *"}, {"minutely", "* * * * *"}}).jobs, kT0);
  EXPECT_EQ(s.NextDispatchTime(), kT0 + minutes(1));
  EXPECT_EQ(s.NextFireOf("hourly"), kT0 + hours(1));
  EXPECT_EQ(s.NextFireOf("nope"), std::nullopt);
  EXPECT_THAT(s.Tick(kT0 + minutes(1)), SizeIs(1));
  EXPECT_EQ(s.NextDispatchTime(), kT0 + minutes(2));
}

TEST(SchedulerTest, NoJobs) {
  Scheduler s({}, kT0);
  EXPECT_EQ(s.NextDispatchTime(), std::nullopt);
  EXPECT_THAT(s.Tick(kT0 + hours(100)), IsEmpty());
}

TEST(SchedulerTest, ReplaceKeepsThePendingFireOfUnchangedJobs) {
  Scheduler s(Jobs({{"a", "0 * * * *"}}).jobs, kT0);
  // Nobody ticked at 01:00; the reload at 01:30 must not lose that run.
  const SystemTime now = kT0 + minutes(90);
  config::JobFile next = Jobs({{"a", "0 * * * *"}});
  next.jobs[0].command = "new command";
  s.Replace(std::move(next.jobs), now);
  EXPECT_EQ(s.NextFireOf("a"), kT0 + hours(1));
  EXPECT_EQ(s.jobs()[0].command, "new command");
  EXPECT_THAT(s.Tick(now), ElementsAre(DueRun{0, kT0 + hours(1)}));
  EXPECT_EQ(s.NextFireOf("a"), kT0 + hours(2));
}

TEST(SchedulerTest, ReplaceKeepsAFireAlreadyPendingAfterATick) {
  Scheduler s(Jobs({{"a", "*/10 * * * * *"}, {"b", "@every 7s"}}).jobs, kT0);
  ASSERT_THAT(s.Tick(kT0 + seconds(10)), SizeIs(2));  // a@10, b@7
  // Same jobs, reordered: indices change, pending fires follow the names.
  s.Replace(Jobs({{"b", "@every 7s"}, {"a", "*/10 * * * * *"}}).jobs, kT0 + seconds(12));
  EXPECT_EQ(s.NextFireOf("a"), kT0 + seconds(20));
  EXPECT_EQ(s.NextFireOf("b"), kT0 + seconds(14));
  EXPECT_THAT(s.Tick(kT0 + seconds(20)),
              ElementsAre(DueRun{0, kT0 + seconds(14)}, DueRun{1, kT0 + seconds(20)}));
}

TEST(SchedulerTest, ReplaceKeepsEveryPendingFireAmongMany) {
  // Pending fires are read back from the fire queue (no per-job copy): with many jobs at
  // different periods, every one must follow its job to its new index.
  const config::Job prototype = Jobs({{"x", "@every 1s"}}).jobs.at(0);
  std::vector<config::Job> jobs;
  for (int i = 0; i < 300; ++i) {
    config::Job job = prototype;
    job.name = "j" + std::to_string(i);
    Result<cron::Schedule> schedule = cron::Schedule::Parse(
        "@every " + std::to_string(3 + i % 17) + "s", prototype.schedule.zone());
    ASSERT_TRUE(schedule.has_value());
    job.schedule = *schedule;
    jobs.push_back(std::move(job));
  }
  std::vector<config::Job> reversed(jobs.rbegin(), jobs.rend());
  Scheduler s(std::move(jobs), kT0);
  ASSERT_THAT(s.Tick(kT0 + seconds(10)), Not(IsEmpty()));
  std::vector<std::optional<SystemTime>> pending;
  for (int i = 0; i < 300; ++i) pending.push_back(s.NextFireOf("j" + std::to_string(i)));
  // Nobody ticks between 10 s and 30 s, so every kept fire is already due by the reload; a
  // job that lost its pending fire would get one after 30 s instead.
  s.Replace(std::move(reversed), kT0 + seconds(30));
  for (int i = 0; i < 300; ++i) {
    ASSERT_LE(pending[i], kT0 + seconds(30)) << i;
    ASSERT_EQ(s.NextFireOf("j" + std::to_string(i)), pending[i]) << i;
    ASSERT_EQ(s.jobs()[299 - i].name, "j" + std::to_string(i));
  }
}

TEST(SchedulerTest, ReplaceSchedulesChangedJobsStrictlyAfterNow) {
  Scheduler s(Jobs({{"a", "0 * * * *"}, {"z", "0 * * * *"}}).jobs, kT0);
  const SystemTime now = kT0 + minutes(90);  // 01:30:00 exactly
  // a's new schedule matches `now` itself: it must not fire at now, nor at the old 01:00.
  s.Replace(Jobs({{"a", "30 * * * *"}, {"z", "0 * * * *"}, {"n", "30 * * * *"}}).jobs, now);
  EXPECT_EQ(s.NextFireOf("a"), kT0 + minutes(150));
  EXPECT_EQ(s.NextFireOf("n"), kT0 + minutes(150));
  EXPECT_EQ(s.NextFireOf("z"), kT0 + hours(1));
  EXPECT_THAT(s.Tick(now), ElementsAre(DueRun{1, kT0 + hours(1)}));
}

TEST(SchedulerTest, ReplaceWithAnotherZoneIsAChange) {
  config::JobFile before = test_support::MustParse(R"(clusters: [alpha]
jobs:
  - name: a
    schedule: "0 * * * *"
    timezone: UTC
    cluster: alpha
    command: x
)");
  config::JobFile after = test_support::MustParse(R"(clusters: [alpha]
jobs:
  - name: a
    schedule: "0 * * * *"
    timezone: Asia/Kolkata
    cluster: alpha
    command: x
)");
  Scheduler s(std::move(before.jobs), kT0);
  const SystemTime now = kT0 + minutes(10);
  s.Replace(std::move(after.jobs), now);
  // Kolkata is UTC+5:30: its next whole hour is 00:30 UTC, not the kept 01:00.
  EXPECT_EQ(s.NextFireOf("a"), kT0 + minutes(30));
}

TEST(SchedulerTest, RemovedJobsStopFiring) {
  Scheduler s(Jobs({{"a", "*/10 * * * * *"}, {"b", "*/10 * * * * *"}}).jobs, kT0);
  ASSERT_THAT(s.Tick(kT0 + seconds(10)), SizeIs(2));
  s.Replace(Jobs({{"b", "*/10 * * * * *"}}).jobs, kT0 + seconds(15));
  EXPECT_EQ(s.NextFireOf("a"), std::nullopt);
  EXPECT_THAT(s.jobs(), SizeIs(1));
  EXPECT_THAT(s.Tick(kT0 + seconds(40)),
              ElementsAre(DueRun{0, kT0 + seconds(20)}, DueRun{0, kT0 + seconds(30)},
                          DueRun{0, kT0 + seconds(40)}));
  s.Replace({}, kT0 + seconds(45));
  EXPECT_EQ(s.NextDispatchTime(), std::nullopt);
  EXPECT_THAT(s.Tick(kT0 + hours(1)), IsEmpty());
}

TEST(SchedulerTest, HundredThousandEverySecondJobsTickInSimulatedTime) {
  constexpr uint32_t kJobs = 100'000;
  constexpr int kSeconds = 5;
  config::Job prototype = Jobs({{"j", "* * * * * *"}}).jobs.at(0);
  std::vector<config::Job> jobs(kJobs, prototype);
  for (uint32_t i = 0; i < kJobs; ++i) jobs[i].name = "j" + std::to_string(i);

  const auto wall_start = std::chrono::steady_clock::now();
  Scheduler s(std::move(jobs), kT0);
  std::vector<uint32_t> per_job(kJobs, 0);
  size_t total = 0;
  for (int sec = 1; sec <= kSeconds; ++sec) {
    const SystemTime now = kT0 + seconds(sec);
    std::vector<DueRun> due = s.Tick(now);
    ASSERT_EQ(due.size(), kJobs) << "second " << sec;
    for (uint32_t i = 0; i < kJobs; ++i) {
      // In job order at one instant.
      ASSERT_EQ(due[i].job, i);
      ASSERT_EQ(due[i].scheduled_at, now);
      ++per_job[i];
    }
    total += due.size();
    EXPECT_THAT(s.Tick(now), IsEmpty());
  }
  EXPECT_EQ(total, size_t{kJobs} * kSeconds);
  for (uint32_t n : per_job) ASSERT_EQ(n, static_cast<uint32_t>(kSeconds));
  // Typically well under a second; the bound only catches a super-linear regression (it is
  // generous for loaded CI machines and sanitizer builds).
  EXPECT_LT(std::chrono::steady_clock::now() - wall_start, seconds(10));
}

// ---- Dispatch ahead ------------------------------------------------------------------------

// Two jobs every 10 s: `a` without dispatch_ahead (takes the scheduler's default), `b` with
// `b_ahead` written in the job.
config::JobFile AheadJobs(std::string_view b_ahead) {
  return test_support::MustParse(
      "clusters: [alpha]\njobs:\n"
      "  - name: a\n    schedule: \"*/10 * * * * *\"\n    cluster: alpha\n    command: a\n"
      "  - name: b\n    schedule: \"*/10 * * * * *\"\n    cluster: alpha\n    command: b\n"
      "    dispatch_ahead: " +
      std::string(b_ahead) + "\n");
}

TEST(SchedulerTest, ARunIsDueExactlyItsDispatchAheadBeforeItsInstant) {
  Scheduler s(Jobs({{"a", "*/10 * * * * *"}}).jobs, kT0, seconds(2));
  EXPECT_EQ(s.NextDispatchTime(), kT0 + seconds(8));
  EXPECT_EQ(s.NextFireOf("a"), kT0 + seconds(10)) << "the instant itself does not move";
  EXPECT_THAT(s.Tick(kT0 + seconds(8) - milliseconds(1)), IsEmpty());
  EXPECT_THAT(s.Tick(kT0 + seconds(8)), ElementsAre(DueRun{0, kT0 + seconds(10)}));
  EXPECT_THAT(s.Tick(kT0 + seconds(10)), IsEmpty()) << "not again at its instant";
  EXPECT_EQ(s.NextDispatchTime(), kT0 + seconds(18));
  // A late Tick returns every run it missed once, each with its own instant.
  EXPECT_THAT(s.Tick(kT0 + seconds(29)),
              ElementsAre(DueRun{0, kT0 + seconds(20)}, DueRun{0, kT0 + seconds(30)}));
}

TEST(SchedulerTest, AJobsDispatchAheadOverridesTheDefault) {
  Scheduler s(AheadJobs("500ms").jobs, kT0, seconds(2));
  EXPECT_EQ(s.DispatchAheadOf(0), seconds(2));
  EXPECT_EQ(s.DispatchAheadOf(1), milliseconds(500));
  EXPECT_THAT(s.Tick(kT0 + seconds(8)), ElementsAre(DueRun{0, kT0 + seconds(10)}));
  EXPECT_EQ(s.NextDispatchTime(), kT0 + milliseconds(9500));
  EXPECT_THAT(s.Tick(kT0 + milliseconds(9499)), IsEmpty());
  EXPECT_THAT(s.Tick(kT0 + milliseconds(9500)), ElementsAre(DueRun{1, kT0 + seconds(10)}));
  EXPECT_THAT(s.Tick(kT0 + seconds(28)),
              ElementsAre(DueRun{0, kT0 + seconds(20)}, DueRun{1, kT0 + seconds(20)},
                          DueRun{0, kT0 + seconds(30)}));
}

TEST(SchedulerTest, ZeroDispatchAheadIsDueAtTheInstant) {
  // A job's 0 under a default of 2 s, and a default of 0.
  Scheduler s(AheadJobs("0").jobs, kT0, seconds(2));
  EXPECT_THAT(s.Tick(kT0 + seconds(8)), ElementsAre(DueRun{0, kT0 + seconds(10)}));
  EXPECT_THAT(s.Tick(kT0 + seconds(10) - milliseconds(1)), IsEmpty());
  EXPECT_THAT(s.Tick(kT0 + seconds(10)), ElementsAre(DueRun{1, kT0 + seconds(10)}));
  Scheduler at_instant(Jobs({{"a", "*/10 * * * * *"}}).jobs, kT0, milliseconds(0));
  EXPECT_THAT(at_instant.Tick(kT0 + seconds(10) - milliseconds(1)), IsEmpty());
  EXPECT_THAT(at_instant.Tick(kT0 + seconds(10)), ElementsAre(DueRun{0, kT0 + seconds(10)}));
}

TEST(SchedulerTest, AChangedScheduleDoesNotFireAgainARunDispatchedAhead) {
  Scheduler s(Jobs({{"a", "*/10 * * * * *"}}).jobs, kT0, seconds(2));
  EXPECT_THAT(s.Tick(kT0 + seconds(9)), ElementsAre(DueRun{0, kT0 + seconds(10)}));
  // Reloaded at +9 with a schedule that also matches +10, which was published already: the
  // changed job resumes after it, not after `now`.
  s.Replace(Jobs({{"a", "*/5 * * * * *"}}).jobs, kT0 + seconds(9));
  EXPECT_EQ(s.NextFireOf("a"), kT0 + seconds(15));
  EXPECT_THAT(s.Tick(kT0 + seconds(13)), ElementsAre(DueRun{0, kT0 + seconds(15)}));
  // An unchanged job that only changes its dispatch_ahead keeps its pending fire.
  s.Replace(test_support::MustParse("clusters: [alpha]\njobs:\n  - name: a\n    schedule: "
                                    "\"*/5 * * * * *\"\n    cluster: alpha\n    command: run "
                                    "a\n    dispatch_ahead: 4s\n")
                .jobs,
            kT0 + seconds(13));
  EXPECT_EQ(s.NextFireOf("a"), kT0 + seconds(20));
  EXPECT_EQ(s.NextDispatchTime(), kT0 + seconds(16));
}

TEST(SchedulerTest, AShrunkDispatchAheadDoesNotHideARunSentUnderTheLargerOne) {
  // `b` sends +10 at +5 (dispatch_ahead 5s); a reload at +6 shrinks that to 1s and keeps its
  // pending fire (+20). A later reload that changes b's schedule to one that also matches
  // +10, or removes b and adds it back, must still know +10 was sent.
  const config::JobFile every_five = test_support::MustParse(
      "clusters: [alpha]\njobs:\n"
      "  - name: b\n    schedule: \"*/5 * * * * *\"\n    cluster: alpha\n    command: b\n"
      "    dispatch_ahead: 1s\n");
  for (const bool remove : {false, true}) {
    SCOPED_TRACE(remove ? "removed and added back" : "schedule changed");
    Scheduler s(AheadJobs("5s").jobs, kT0, seconds(2));
    ASSERT_THAT(s.Tick(kT0 + seconds(5)), ElementsAre(DueRun{1, kT0 + seconds(10)}));
    s.Replace(AheadJobs("1s").jobs, kT0 + seconds(6));
    ASSERT_EQ(s.NextFireOf("b"), kT0 + seconds(20));
    if (remove) {
      s.Replace(Jobs({{"a", "*/10 * * * * *"}}).jobs, kT0 + seconds(7));
      EXPECT_EQ(s.RemovedRemembered(), 1u);
    }
    s.Replace(every_five.jobs, kT0 + milliseconds(7500));
    EXPECT_EQ(s.NextFireOf("b"), kT0 + seconds(15)) << "+10 was sent: not again";
  }
}

TEST(SchedulerTest, AJobRemovedAndAddedAgainDoesNotFireAgainARunDispatchedAhead) {
  const auto both = [] { return Jobs({{"a", "*/10 * * * * *"}, {"b", "*/10 * * * * *"}}).jobs; };
  Scheduler s(both(), kT0, seconds(2));
  ASSERT_THAT(s.Tick(kT0 + seconds(8)),
              ElementsAre(DueRun{0, kT0 + seconds(10)}, DueRun{1, kT0 + seconds(10)}));
  // "a" is removed after its +10 was dispatched and added back before +10, through a reload
  // that does not have it either: +10 was published once, and is not queued again.
  s.Replace(Jobs({{"b", "*/10 * * * * *"}}).jobs, kT0 + milliseconds(8500));
  s.Replace(Jobs({{"b", "*/10 * * * * *"}, {"c", "@every 30s"}}).jobs, kT0 + milliseconds(8700));
  s.Replace(both(), kT0 + seconds(9));
  EXPECT_EQ(s.NextFireOf("a"), kT0 + seconds(20));
  EXPECT_THAT(s.Tick(kT0 + seconds(12)), IsEmpty());
  EXPECT_THAT(s.Tick(kT0 + seconds(18)),
              ElementsAre(DueRun{0, kT0 + seconds(20)}, DueRun{1, kT0 + seconds(20)}));
  // Added back with a schedule that also matches +20: it resumes after +20, as a job whose
  // schedule changed in one reload does.
  s.Replace(Jobs({{"b", "*/10 * * * * *"}}).jobs, kT0 + milliseconds(18500));
  s.Replace(Jobs({{"a", "*/5 * * * * *"}, {"b", "*/10 * * * * *"}}).jobs, kT0 + seconds(19));
  EXPECT_EQ(s.NextFireOf("a"), kT0 + seconds(25));
  ASSERT_THAT(s.Tick(kT0 + seconds(23)), ElementsAre(DueRun{0, kT0 + seconds(25)}));
  // Removed after +25 was dispatched and added back once +25 has passed: a new job, firing
  // strictly after now, as before.
  s.Replace(Jobs({{"b", "*/10 * * * * *"}}).jobs, kT0 + seconds(24));
  s.Replace(both(), kT0 + seconds(30));
  EXPECT_EQ(s.NextFireOf("a"), kT0 + seconds(40));
}

TEST(SchedulerTest, ARemovedJobsDispatchedRunIsForgottenAMinuteAfterItsInstant) {
  Scheduler s(Jobs({{"a", "*/10 * * * * *"}, {"b", "*/10 * * * * *"}}).jobs, kT0, seconds(2));
  ASSERT_THAT(s.Tick(kT0 + seconds(8)), SizeIs(2));
  s.Replace(Jobs({{"b", "*/10 * * * * *"}}).jobs, kT0 + seconds(9));
  EXPECT_EQ(s.RemovedRemembered(), 1u) << "a's +10";
  s.Replace({}, kT0 + seconds(9));
  EXPECT_EQ(s.RemovedRemembered(), 2u) << "and b's";
  // Nothing dispatched ahead, nothing to remember.
  Scheduler idle(Jobs({{"a", "*/10 * * * * *"}}).jobs, kT0, seconds(2));
  idle.Replace({}, kT0 + seconds(5));
  EXPECT_EQ(idle.RemovedRemembered(), 0u);
  // Kept for a minute past +10, so that a clock stepping back cannot fire it again.
  s.Replace(Jobs({{"a", "0 0 * * *"}}).jobs, kT0 + seconds(69));
  EXPECT_EQ(s.RemovedRemembered(), 1u) << "a is back: only b's is left";
  EXPECT_THAT(s.Tick(kT0 + seconds(69)), IsEmpty());
  EXPECT_EQ(s.RemovedRemembered(), 1u);
  EXPECT_THAT(s.Tick(kT0 + seconds(70)), IsEmpty());
  EXPECT_EQ(s.RemovedRemembered(), 0u) << "a tick frees it";
}

TEST(SchedulerTest, RestartingAfterARunDispatchedAheadResumesAfterIt) {
  // A takeover at +9 whose state says +10 was dispatched (ahead): +10 is not queued again.
  Scheduler s(Jobs({{"a", "*/10 * * * * *"}}).jobs, kT0, seconds(2));
  const std::vector<std::optional<SystemTime>> handled = {kT0 + seconds(10)};
  s.StartAfter(handled, kT0 + seconds(9));
  EXPECT_EQ(s.NextFireOf("a"), kT0 + seconds(20));
  EXPECT_THAT(s.Tick(kT0 + seconds(12)), IsEmpty());
  EXPECT_THAT(s.Tick(kT0 + seconds(18)), ElementsAre(DueRun{0, kT0 + seconds(20)}));
}

TEST(SchedulerTest, RestartingRemembersTheRunsOfRemovedJobsItIsGiven) {
  // A takeover at +9 by a scheduler without "a", whose state says +10 was dispatched for it:
  // "a" added back at +9.5 resumes after +10. What the scheduler remembered before (b, from
  // its own reload while it stood by) is replaced by what the state says.
  Scheduler s(Jobs({{"b", "*/10 * * * * *"}, {"c", "0 0 * * *"}}).jobs, kT0, seconds(2));
  ASSERT_THAT(s.Tick(kT0 + seconds(8)), ElementsAre(DueRun{0, kT0 + seconds(10)}));
  s.Replace(Jobs({{"c", "0 0 * * *"}}).jobs, kT0 + seconds(9));
  ASSERT_EQ(s.RemovedRemembered(), 1u);
  const std::vector<std::optional<SystemTime>> handled(1);
  s.StartAfter(handled, kT0 + seconds(9), {{"a", kT0 + seconds(10)}, {"old", kT0 - seconds(60)}});
  EXPECT_EQ(s.RemovedRemembered(), 1u) << "old's run is more than a minute past";
  s.Replace(Jobs({{"a", "*/10 * * * * *"}, {"b", "*/10 * * * * *"}, {"c", "0 0 * * *"}}).jobs,
            kT0 + milliseconds(9500));
  EXPECT_EQ(s.NextFireOf("a"), kT0 + seconds(20));
  EXPECT_EQ(s.NextFireOf("b"), kT0 + seconds(10)) << "b's memory was replaced";
  EXPECT_EQ(s.RemovedRemembered(), 0u);
}

}  // namespace
}  // namespace krond::scheduler
