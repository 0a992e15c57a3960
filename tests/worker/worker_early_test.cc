// Runs dispatched ahead of their instant (issue 20): held, started on scheduled_at, and
// otherwise treated as runs that arrived on time.
#include "fakes/captured_log.h"
#include "worker_fixture.h"

namespace krond::worker {
namespace {

using namespace test;  // NOLINT: the fixture and its helpers

class WorkerEarlyTest : public WorkerTest {
 protected:
  static messages::TaskMessage At(const std::string& run_id, SystemTime scheduled_at) {
    messages::TaskMessage t = Task(run_id);
    t.scheduled_at = scheduled_at;
    return t;
  }
  // Run r0 of a job with concurrency forbid starts now; its next run r1 is held until kT0.
  void RunR0AndHoldR1OfAForbidJob() {
    clock_.Set(kT0 - seconds(2));
    MakeWorker(/*slots=*/2);
    messages::TaskMessage first = At("r0", kT0 - seconds(2));
    first.concurrency = "forbid";
    messages::TaskMessage next = At("r1", kT0);
    next.concurrency = "forbid";
    Add(first);
    Add(next);
    Step();
    Step();
  }
  // A gate not ready until `ready_`; once ready, it says the job was paused if `paused_`
  // (as a follower that has just read a pause).
  void UseGate() {
    gate_ready_ = [this] { return ready_; };
    cancel_early_ = [this](std::string_view job) -> std::optional<std::string> {
      asked_.emplace_back(job);
      if (!ready_) ADD_FAILURE() << "asked before the gate was ready";
      if (paused_) return std::string("paused");
      return std::nullopt;
    };
  }
  // A worker started at kT0 - 2s with the gate (UseGate) not ready receives `task` and
  // holds it until `now`, past its instant.
  void HoldPastItsInstantWithTheGateClosed(const messages::TaskMessage& task, SystemTime now) {
    UseGate();
    clock_.Set(kT0 - seconds(2));
    MakeWorker();
    Add(task);
    Step();
    clock_.Set(now);
    Step();
  }
  bool ready_ = false;
  bool paused_ = false;
  std::vector<std::string> asked_;
};

TEST_F(WorkerEarlyTest, AnEarlyRunIsHeldUntilItsInstantAndStartsOnIt) {
  clock_.Set(kT0 - seconds(2));
  MakeWorker();
  Add(At("r1", kT0));
  Step();
  EXPECT_EQ(worker_->early(), 1u);
  EXPECT_EQ(worker_->running(), 0u);
  EXPECT_THAT(Metrics(), HasSubstr("krond_worker_early_runs 1\n"));

  clock_.Set(kT0 - milliseconds(3));
  Step();
  EXPECT_EQ(worker_->running(), 0u) << "3 ms before its instant";

  // Within the wake-up margin the worker sleeps to the instant on the clock, then starts.
  clock_.Set(kT0 - milliseconds(1));
  Step();
  ASSERT_TRUE(executor_.WaitBlocked("r1"));
  EXPECT_EQ(worker_->early(), 0u);
  EXPECT_EQ(worker_->running(), 1u);
  EXPECT_EQ(clock_.Now(), kT0) << "started on the instant, not before";
  EXPECT_THAT(Metrics(), HasSubstr("krond_worker_early_runs 0\n"));
  EXPECT_THAT(Metrics(), HasSubstr("krond_worker_run_start_delay_seconds_bucket{cluster=\"alpha\","
                                   "queue=\"main\",le=\"0.001\"} 1\n"));
  Finish("r1", FakeExecutor::Succeeded());
  ASSERT_TRUE(StepUntil([&] { return Committed() == 1; }));
}

TEST_F(WorkerEarlyTest, ThePollWaitEndsJustBeforeTheInstant) {
  consumer_.AdvanceClockOnIdlePoll(&clock_);  // an empty poll lasts its whole timeout
  clock_.Set(kT0 - milliseconds(50));
  MakeWorker();
  Add(At("r1", kT0));
  worker_->Step(milliseconds(0));
  ASSERT_EQ(worker_->early(), 1u);
  // A 100 ms poll would wake 50 ms late; the worker polls only to 2 ms before the instant.
  worker_->Step(milliseconds(100));
  ASSERT_TRUE(executor_.WaitBlocked("r1"));
  EXPECT_EQ(clock_.Now(), kT0);
}

TEST_F(WorkerEarlyTest, ARunDueNowStartsAtOnceWhileAnEarlierMessageIsHeld) {
  clock_.Set(kT0 - seconds(2));
  MakeWorker(/*slots=*/2);
  Add(At("early", kT0));
  Add(At("now", kT0 - seconds(2)));
  Step();
  Step();
  ASSERT_TRUE(executor_.WaitBlocked("now"));
  EXPECT_EQ(worker_->early(), 1u);
  Finish("now", FakeExecutor::Succeeded());
  for (int i = 0; i < 3; ++i) Step();
  EXPECT_EQ(Committed(), 0) << "the commit never passes a run that has not started";

  clock_.Set(kT0);
  Step();
  Finish("early", FakeExecutor::Succeeded());
  ASSERT_TRUE(StepUntil([&] { return Committed() == 2; }));
}

TEST_F(WorkerEarlyTest, AHeldRunWhoseJobWasPausedIsSkippedNeverRun) {
  std::vector<std::string> asked;
  cancel_early_ = [&](std::string_view job) -> std::optional<std::string> {
    asked.emplace_back(job);
    return std::string("paused");
  };
  clock_.Set(kT0 - seconds(2));
  MakeWorker();
  Add(At("r1", kT0));
  Step();
  EXPECT_THAT(asked, IsEmpty()) << "asked at the instant, not on arrival";
  clock_.Set(kT0);
  ASSERT_TRUE(StepUntil([&] { return Committed() == 1; }));
  EXPECT_THAT(asked, ElementsAre("backup"));
  EXPECT_THAT(executor_.specs(), IsEmpty());
  ASSERT_THAT(Results(), SizeIs(1));
  EXPECT_EQ(Results()[0].outcome, Outcome::kSkipped);
  EXPECT_THAT(Results()[0].error, HasSubstr("job paused"));
  EXPECT_THAT(Metrics(), HasSubstr("krond_worker_runs_cancelled_total{cluster=\"alpha\","
                                   "reason=\"paused\"} 1\n"));
}

TEST_F(WorkerEarlyTest, ADueRunWaitsForTheGateThenIsCancelledByWhatItRead) {
  // A worker just started: a run sent before its job was paused is held, and the pause is
  // still unread when the run is due.
  paused_ = true;
  HoldPastItsInstantWithTheGateClosed(At("r1", kT0), kT0);
  clock_.Set(kT0 + seconds(1));
  Step();
  EXPECT_EQ(worker_->early(), 1u) << "neither started nor skipped while the gate is not ready";
  EXPECT_THAT(executor_.specs(), IsEmpty());
  EXPECT_THAT(Results(), IsEmpty());
  EXPECT_THAT(asked_, IsEmpty());

  ready_ = true;
  ASSERT_TRUE(StepUntil([&] { return Committed() == 1; }));
  EXPECT_THAT(asked_, ElementsAre("backup"));
  EXPECT_THAT(executor_.specs(), IsEmpty());
  ASSERT_THAT(Results(), SizeIs(1));
  EXPECT_EQ(Results()[0].outcome, Outcome::kSkipped);
  EXPECT_THAT(Results()[0].error, HasSubstr("job paused"));
  EXPECT_THAT(Metrics(), HasSubstr("krond_worker_gate_waits_total{cluster=\"alpha\","
                                   "result=\"ready\"} 1\n"));
  EXPECT_THAT(Metrics(), HasSubstr("krond_worker_gate_waits_total{cluster=\"alpha\","
                                   "result=\"timed_out\"} 0\n"));
}

TEST_F(WorkerEarlyTest, ARunThatWaitedForTheGateStartsLateAndCountsItsLateness) {
  HoldPastItsInstantWithTheGateClosed(At("r1", kT0), kT0);
  EXPECT_EQ(worker_->running(), 0u);
  clock_.Set(kT0 + milliseconds(300));
  ready_ = true;
  Step();
  ASSERT_TRUE(executor_.WaitBlocked("r1"));
  EXPECT_THAT(Metrics(), HasSubstr("krond_worker_run_start_delay_seconds_bucket{cluster=\"alpha\","
                                   "queue=\"main\",le=\"0.25\"} 0\n"));
  EXPECT_THAT(Metrics(), HasSubstr("krond_worker_run_start_delay_seconds_bucket{cluster=\"alpha\","
                                   "queue=\"main\",le=\"0.5\"} 1\n"));
}

TEST_F(WorkerEarlyTest, ARunThatWaitedForTheGatePastItsStartingDeadlineIsMissed) {
  messages::TaskMessage t = At("r1", kT0);
  t.starting_deadline = seconds(1);
  HoldPastItsInstantWithTheGateClosed(t, kT0 + seconds(2));
  EXPECT_EQ(worker_->early(), 1u);
  ready_ = true;
  ASSERT_TRUE(StepUntil([&] { return Committed() == 1; }));
  EXPECT_THAT(executor_.specs(), IsEmpty());
  ASSERT_THAT(Results(), SizeIs(1));
  EXPECT_EQ(Results()[0].outcome, Outcome::kSkipped);
  EXPECT_THAT(Results()[0].error, HasSubstr("starting_deadline"));
  EXPECT_THAT(Metrics(),
              HasSubstr("krond_worker_runs_missed_deadline_total{cluster=\"alpha\"} 1\n"));
}

TEST_F(WorkerEarlyTest, ARunStillWaitingForTheGateAfterControlWaitIsSkippedNeverRun) {
  UseGate();
  gate_wait_ = seconds(10);
  clock_.Set(kT0 - seconds(2));
  MakeWorker(/*slots=*/2);
  Add(At("r1", kT0));
  Add(At("r2", kT0 + seconds(5)));
  Step();
  Step();
  clock_.Set(kT0 + seconds(10) - milliseconds(1));
  Step();
  EXPECT_EQ(worker_->early(), 2u);
  EXPECT_THAT(Results(), IsEmpty());

  krond::testing::CapturedLog log;
  clock_.Set(kT0 + seconds(10));
  ASSERT_TRUE(StepUntil([&] { return Committed() == 1; }));
  EXPECT_THAT(asked_, IsEmpty());
  EXPECT_THAT(executor_.specs(), IsEmpty());
  ASSERT_THAT(Results(), SizeIs(1));
  EXPECT_EQ(Results()[0].run_id, "r1");
  EXPECT_EQ(Results()[0].outcome, Outcome::kSkipped);
  EXPECT_THAT(Results()[0].error, HasSubstr("--control-wait 10s"));
  EXPECT_THAT(Metrics(), HasSubstr("krond_worker_gate_waits_total{cluster=\"alpha\","
                                   "result=\"timed_out\"} 1\n"));
  ASSERT_THAT(log.Lines(), SizeIs(1));
  EXPECT_THAT(log.Lines()[0], HasSubstr("skip backup run r1"));
  EXPECT_EQ(worker_->early(), 1u) << "r2 waits out its own wait";

  // The gate comes back in time for r2, which then starts, late.
  ready_ = true;
  Step();
  ASSERT_TRUE(executor_.WaitBlocked("r2"));
}

TEST_F(WorkerEarlyTest, WhileADueRunWaitsForTheGateThePollWakesToLookAgain) {
  UseGate();
  consumer_.AdvanceClockOnIdlePoll(&clock_);  // an empty poll lasts its whole timeout
  clock_.Set(kT0 - seconds(2));
  MakeWorker();
  Add(At("r1", kT0));
  worker_->Step(milliseconds(0));
  ASSERT_EQ(worker_->early(), 1u);
  clock_.Set(kT0);
  worker_->Step(milliseconds(0));
  // Not the whole 100 ms (the gate may be ready sooner), and not 0 (a busy loop).
  worker_->Step(milliseconds(100));
  EXPECT_EQ(clock_.Now(), kT0 + milliseconds(20));
  EXPECT_EQ(worker_->running(), 0u);
  ready_ = true;
  worker_->Step(milliseconds(100));
  ASSERT_TRUE(executor_.WaitBlocked("r1"));
}

TEST_F(WorkerEarlyTest, ARunArrivingOnTimeDoesNotWaitForTheGate) {
  UseGate();
  clock_.Set(kT0);
  MakeWorker();
  Add(At("r1", kT0));
  Step();
  ASSERT_TRUE(executor_.WaitBlocked("r1"));
  EXPECT_THAT(asked_, IsEmpty());
}

TEST_F(WorkerEarlyTest, AHeldRunOfAJobStillGoingMeetsItsConcurrencyPolicyAtTheInstant) {
  RunR0AndHoldR1OfAForbidJob();
  ASSERT_TRUE(executor_.WaitBlocked("r0"));
  EXPECT_EQ(worker_->early(), 1u) << "held, not skipped on arrival: r0 may end in time";
  clock_.Set(kT0);
  ASSERT_TRUE(StepUntil([&] { return Results().size() == 1; }));
  EXPECT_EQ(Results()[0].run_id, "r1");
  EXPECT_EQ(Results()[0].outcome, Outcome::kSkipped);
  EXPECT_THAT(Results()[0].error, HasSubstr("concurrency forbid"));
}

TEST_F(WorkerEarlyTest, ARunThatEndsBeforeTheInstantLetsTheHeldRunOfItsJobStart) {
  RunR0AndHoldR1OfAForbidJob();
  Finish("r0", FakeExecutor::Succeeded());
  clock_.Set(kT0);
  Step();
  ASSERT_TRUE(executor_.WaitBlocked("r1"));
}

TEST_F(WorkerEarlyTest, ARevokedPartitionsHeldRunsAreLeftUncommittedForItsNextOwner) {
  clock_.Set(kT0 - seconds(2));
  MakeWorker();
  Add(At("r1", kT0));
  Step();
  ASSERT_EQ(worker_->early(), 1u);
  consumer_.Revoke({{kTasks, 0, -1}});
  EXPECT_EQ(worker_->early(), 0u);
  clock_.Set(kT0 + seconds(1));
  Step();
  EXPECT_THAT(executor_.specs(), IsEmpty());
  EXPECT_LE(Committed(), 0) << "never committed past: the next owner reads it again";
}

TEST_F(WorkerEarlyTest, StopLeavesHeldRunsUncommitted) {
  clock_.Set(kT0 - seconds(2));
  MakeWorker();
  Add(At("r1", kT0));
  Add(At("r2", kT0 - seconds(3)));
  Step();
  Step();
  Finish("r2", FakeExecutor::Succeeded());
  worker_->Stop();
  EXPECT_EQ(worker_->early(), 0u);
  EXPECT_THAT(executor_.specs(), SizeIs(1));
  EXPECT_LE(Committed(), 0) << "r2 finished, but r1 before it never started";
}

TEST_F(WorkerEarlyTest, ARunFarAheadIsHeldOnlyMaxHoldAhead) {
  max_hold_ahead_ = seconds(60);
  clock_.Set(kT0);
  MakeWorker();
  Add(At("r1", kT0 + hours(1)));
  Step();
  EXPECT_EQ(worker_->early(), 1u);
  EXPECT_THAT(Metrics(), HasSubstr("krond_worker_early_capped_total 1\n"));
  clock_.Set(kT0 + seconds(59));
  Step();
  EXPECT_EQ(worker_->running(), 0u);
  clock_.Set(kT0 + seconds(60));
  Step();
  ASSERT_TRUE(executor_.WaitBlocked("r1"));
}

TEST_F(WorkerEarlyTest, PartitionsPauseWhileMaxEarlyRunsAreHeld) {
  max_early_ = 2;
  clock_.Set(kT0 - seconds(2));
  MakeWorker(/*slots=*/4);
  Add(At("r1", kT0));
  Add(At("r2", kT0));
  Add(At("r3", kT0));
  Step();
  EXPECT_FALSE(consumer_.IsPaused(kTasks, 0));
  Step();
  EXPECT_EQ(worker_->early(), 2u);
  EXPECT_TRUE(consumer_.IsPaused(kTasks, 0)) << "memory stays bounded";
  clock_.Set(kT0);
  Step();
  EXPECT_FALSE(consumer_.IsPaused(kTasks, 0));
  ASSERT_TRUE(StepUntil([&] { return worker_->running() == 3; }));
}

TEST_F(WorkerEarlyTest, RetriesAreNeverHeldForTheirScheduledTime) {
  clock_.Set(kT0 - seconds(2));
  MakeWorker(1, messages::Queue::kRetry);
  Add(At("r1", kT0));  // a retry's scheduled_at is its first attempt's; not_before is its own
  Step();
  EXPECT_EQ(worker_->early(), 0u);
  ASSERT_TRUE(executor_.WaitBlocked("r1"));
}

}  // namespace
}  // namespace krond::worker
