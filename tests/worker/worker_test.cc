#include "worker/worker.h"

#include "worker_fixture.h"

namespace krond::worker {
namespace {

using namespace test;  // NOLINT: the fixture and its helpers

// ---- One run ---------------------------------------------------------------------------

TEST_F(WorkerTest, RunsATaskAndCommitsOnlyAfterItsResultIsAcknowledged) {
  MakeWorker();
  Add(Task("r1"));
  clock_.Set(kT0 + milliseconds(1500));
  Step();
  ASSERT_TRUE(executor_.WaitBlocked("r1"));
  const exec::RunSpec spec = executor_.specs().at(0);
  EXPECT_THAT(spec.argv, ElementsAre("/bin/sh", "-c", "echo r1"));
  EXPECT_THAT(spec.env, Contains(std::pair<std::string, std::string>("KROND_RUN_ID", "r1")));
  EXPECT_THAT(spec.env, Contains(std::pair<std::string, std::string>("KROND_JOB", "backup")));
  EXPECT_THAT(spec.env, Contains(std::pair<std::string, std::string>("KROND_ATTEMPT", "1")));
  EXPECT_THAT(spec.env, Contains(std::pair<std::string, std::string>("KROND_SCHEDULED_AT",
                                                                     "2026-03-08T00:00:00.000Z")));
  EXPECT_THAT(spec.env, Not(Contains(Pair("KROND_FENCE", _)))) << "a task without a fence";
  EXPECT_EQ(spec.timeout, seconds(90));
  EXPECT_EQ(worker_->running(), 1u);
  EXPECT_THAT(Metrics(), HasSubstr("krond_worker_runs_in_flight 1\n"));

  // The broker does not acknowledge the result yet: the offset must stay uncommitted.
  producer_.HoldDeliveries(true);
  clock_.Set(kT0 + seconds(4));
  Finish("r1", FakeExecutor::Succeeded("hello\n"));
  ASSERT_THAT(producer_.Records(), SizeIs(1));
  EXPECT_EQ(producer_.Records()[0].topic, kResults);
  for (int i = 0; i < 5; ++i) Step();
  EXPECT_LE(Committed(), 0) << "committed past a run whose result is not durable";

  producer_.HoldDeliveries(false);
  Step();
  EXPECT_EQ(Committed(), 1);
  std::vector<messages::ResultMessage> results = Results();
  ASSERT_THAT(results, SizeIs(1));
  const messages::ResultMessage& r = results[0];
  EXPECT_EQ(r.run_id, "r1");
  EXPECT_EQ(r.job, "backup");
  EXPECT_EQ(r.cluster, "alpha");
  EXPECT_EQ(r.attempt, 1);
  EXPECT_EQ(r.worker, "host:1");
  EXPECT_EQ(r.queue, "main");
  EXPECT_EQ(r.outcome, Outcome::kSucceeded);
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output_tail, "hello\n");
  EXPECT_EQ(r.output_bytes, 6);
  EXPECT_EQ(r.scheduled_at, kT0);
  EXPECT_EQ(r.started_at, kT0 + milliseconds(1500));
  EXPECT_EQ(r.finished_at, kT0 + seconds(4));
  EXPECT_THAT(producer_.Records(), SizeIs(1)) << "no retry or dead letter for a success";
  EXPECT_EQ(worker_->running(), 0u);
  const std::string text = Metrics();
  EXPECT_THAT(text, HasSubstr("krond_worker_runs_finished_total{cluster=\"alpha\",queue=\"main\","
                              "outcome=\"succeeded\"} 1\n"));
  EXPECT_THAT(text,
              HasSubstr("krond_worker_runs_started_total{cluster=\"alpha\",queue=\"main\"} 1\n"));
  // Started 1.5 s after it was due.
  EXPECT_THAT(text, HasSubstr("krond_worker_run_start_delay_seconds_sum{cluster=\"alpha\","
                              "queue=\"main\"} 1.5\n"));
}

TEST_F(WorkerTest, PassesTheFireFenceToTheCommand) {
  MakeWorker();
  messages::TaskMessage t = Task("r1");
  t.fence = 41;
  Add(t);
  clock_.Set(kT0 + milliseconds(10));
  Step();
  ASSERT_TRUE(executor_.WaitBlocked("r1"));
  EXPECT_THAT(executor_.specs().at(0).env, Contains(Pair("KROND_FENCE", "41")));
  Finish("r1", FakeExecutor::Succeeded());
}

TEST_F(WorkerTest, PassesTheJobsEnvBeforeTheRunsOwnVariables) {
  MakeWorker();
  messages::TaskMessage t = Task("r1");
  t.env = {{"HOME", "/srv/backup"}, {"REGION", "eu"}};
  Add(t);
  clock_.Set(kT0 + milliseconds(10));
  Step();
  ASSERT_TRUE(executor_.WaitBlocked("r1"));
  // In this order: RunSpec::env goes over the base environment, the KROND_* variables last.
  EXPECT_THAT(executor_.specs().at(0).env,
              ElementsAre(Pair("HOME", "/srv/backup"), Pair("REGION", "eu"),
                          Pair("KROND_RUN_ID", "r1"), Pair("KROND_JOB", "backup"),
                          Pair("KROND_ATTEMPT", "1"), Pair("KROND_SCHEDULED_AT", _)));
  Finish("r1", FakeExecutor::Succeeded());
}

TEST_F(WorkerTest, JobTimeoutIsCappedByTheWorkersMaximum) {
  MakeWorker();
  messages::TaskMessage t = Task("long");
  t.timeout = hours(10);
  Add(t);
  executor_.SetDefaultOutcome(FakeExecutor::Succeeded());
  Step();
  ASSERT_TRUE(StepUntil([&] { return worker_->completed() == 1; }));
  EXPECT_EQ(executor_.specs().at(0).timeout, hours(2));
}

// ---- Slots -----------------------------------------------------------------------------

TEST_F(WorkerTest, TakesAFetchedBurstInOneStep) {
  max_poll_batch_ = 64;
  MakeWorker(/*slots=*/8);
  for (int i = 0; i < 5; ++i) Add(Task("r" + std::to_string(i)));
  Step();
  // With one message per Step only r0 would have started.
  ASSERT_TRUE(executor_.WaitStarted(5));
  EXPECT_EQ(worker_->running(), 5u);
}

TEST_F(WorkerTest, CommitsAtMostOncePerInterval) {
  commit_interval_ = milliseconds(100);
  MakeWorker(/*slots=*/2);
  Add(Task("r1"));
  Step();
  Finish("r1", FakeExecutor::Succeeded());
  Step();
  EXPECT_THAT(Results(), SizeIs(1));
  EXPECT_LE(Committed(), 0) << "committed again before the interval passed";
  clock_.Advance(milliseconds(100));
  Step();
  EXPECT_EQ(Committed(), 1);
}

TEST_F(WorkerTest, FullSlotsPauseThePartitionAndCommitsWaitForTheLowestUnfinished) {
  MakeWorker(/*slots=*/2);
  Add(Task("r1"));
  Add(Task("r2"));
  Add(Task("r3"));
  Step();
  Step();
  ASSERT_TRUE(executor_.WaitStarted(2));
  EXPECT_TRUE(consumer_.IsPaused(kTasks, 0));
  for (int i = 0; i < 5; ++i) Step();
  // Slot threads call the executor in any order.
  EXPECT_THAT(executor_.started(), UnorderedElementsAre("r1", "r2")) << "the third run waits";
  EXPECT_EQ(worker_->running(), 2u);

  // r2 (offset 1) finishes first: a slot frees, r3 starts, but offset 0 is still running.
  Finish("r2", FakeExecutor::Succeeded());
  ASSERT_TRUE(StepUntil([&] { return executor_.started().size() == 3; }));
  EXPECT_EQ(executor_.started().back(), "r3");
  EXPECT_LE(Committed(), 0);
  EXPECT_TRUE(consumer_.IsPaused(kTasks, 0)) << "slots are full again";

  // r1 finishes: offsets 0 and 1 are done, 2 (r3) is not.
  Finish("r1", FakeExecutor::Succeeded());
  Step();
  EXPECT_EQ(Committed(), 2);
  Finish("r3", FakeExecutor::Succeeded());
  Step();
  EXPECT_EQ(Committed(), 3);
  EXPECT_THAT(Results(), SizeIs(3));
  EXPECT_FALSE(consumer_.IsPaused(kTasks, 0));
  // Every run ran exactly once.
  EXPECT_THAT(executor_.started(), SizeIs(3));
  // Commits only ever move forward (a commit at the same offset only says more about the
  // runs past it).
  kafka::TopicPartition last{kTasks, 0, -1};
  for (const auto& commit : consumer_.commits()) {
    for (const auto& tp : commit) {
      EXPECT_GE(tp.offset, last.offset);
      EXPECT_NE(tp, last);
      last = tp;
    }
  }
}

TEST_F(WorkerTest, AlreadyFetchedMessageIsHeldUntilASlotFrees) {
  // The client fetched all three before the pause took effect, so the third is handed to
  // the worker while both slots are busy: it must be held (partitions paused, no commit
  // past it), not dropped, run early, or fetched again.
  consumer_.SetPrefetch(10);
  MakeWorker(/*slots=*/2);
  Add(Task("r1"));
  Add(Task("r2"));
  const int64_t third = Add(Task("r3"));
  Step();
  Step();
  Step();
  ASSERT_TRUE(executor_.WaitStarted(2));
  EXPECT_THAT(consumer_.seeks(), IsEmpty());
  EXPECT_TRUE(consumer_.IsPaused(kTasks, 0));
  EXPECT_EQ(ReturnedCount("r3"), 1u);
  for (int i = 0; i < 5; ++i) Step();
  EXPECT_THAT(executor_.started(), UnorderedElementsAre("r1", "r2"));

  // r2 (offset 1) finishes first: r3 takes its slot; offset 0 is still running, so no
  // commit may pass it.
  Finish("r2", FakeExecutor::Succeeded());
  ASSERT_TRUE(StepUntil([&] { return executor_.started().size() == 3; }));
  EXPECT_EQ(executor_.started().back(), "r3");
  EXPECT_EQ(ReturnedCount("r3"), 1u) << "taken from memory, not fetched again";
  Step();
  EXPECT_LE(Committed(), 0);
  Finish("r1", FakeExecutor::Succeeded());
  Finish("r3", FakeExecutor::Succeeded());
  Step();
  Step();
  EXPECT_EQ(Committed(), third + 1);
  EXPECT_THAT(Results(), SizeIs(3));
  EXPECT_THAT(executor_.started(), SizeIs(3));
}

TEST_F(WorkerTest, BusyWorkerKeepsFetchingIntoItsHoldUntilTheBound) {
  max_held_ = 2;
  MakeWorker(/*slots=*/1);
  for (const char* id : {"r1", "r2", "r3", "r4"}) Add(Task(id));
  for (int i = 0; i < 6; ++i) Step();
  ASSERT_TRUE(executor_.WaitBlocked("r1"));
  // r2 and r3 are held without pausing; reaching the bound pauses the partition.
  EXPECT_EQ(ReturnedCount("r2"), 1u);
  EXPECT_EQ(ReturnedCount("r3"), 1u);
  EXPECT_EQ(ReturnedCount("r4"), 0u);
  EXPECT_TRUE(consumer_.IsPaused(kTasks, 0));
  EXPECT_THAT(consumer_.seeks(), IsEmpty());
  EXPECT_LE(Committed(), 0) << "nothing held is committed past";
  Finish("r1", FakeExecutor::Succeeded());
  Finish("r2", FakeExecutor::Succeeded());
  Finish("r3", FakeExecutor::Succeeded());
  Finish("r4", FakeExecutor::Succeeded());
  Step();
  Step();
  EXPECT_THAT(executor_.started(), ElementsAre("r1", "r2", "r3", "r4"));
  EXPECT_EQ(Committed(), 4);
  for (const char* id : {"r1", "r2", "r3", "r4"}) EXPECT_EQ(ReturnedCount(id), 1u) << id;
}

TEST_F(WorkerTest, SlotsRunConcurrently) {
  MakeWorker(/*slots=*/3);
  for (const char* id : {"a", "b", "c"}) Add(Task(id));
  for (int i = 0; i < 3; ++i) Step();
  // All three block at once: none waits for another.
  for (const char* id : {"a", "b", "c"}) EXPECT_TRUE(executor_.WaitBlocked(id)) << id;
  EXPECT_EQ(worker_->running(), 3u);
  Finish("c", FakeExecutor::Succeeded());
  Finish("b", FakeExecutor::Succeeded());
  Finish("a", FakeExecutor::Succeeded());
  Step();
  EXPECT_EQ(Committed(), 3);
}

// ---- Bad messages ----------------------------------------------------------------------

TEST_F(WorkerTest, InvalidJsonIsDeadLetteredAndTheWorkerGoesOn) {
  MakeWorker();
  consumer_.Append(kTasks, 0, "k-bad", "{not json");
  Add(Task("good"));
  Step();
  Step();
  ASSERT_TRUE(executor_.WaitBlocked("good"));
  EXPECT_THAT(executor_.started(), ElementsAre("good"));
  // The bad message is done (result and dead letter acknowledged): commit passes it.
  EXPECT_EQ(Committed(), 1);

  std::vector<messages::ResultMessage> results = Results();
  ASSERT_THAT(results, SizeIs(1));
  EXPECT_EQ(results[0].run_id, "k-bad");
  EXPECT_EQ(results[0].outcome, Outcome::kInvalid);
  EXPECT_EQ(results[0].cluster, "alpha");
  EXPECT_EQ(results[0].source, "test.tasks.alpha[0]@0");
  EXPECT_THAT(results[0].error, HasSubstr("not valid JSON"));
  std::vector<messages::DeadLetter> dead = DeadLetters();
  ASSERT_THAT(dead, SizeIs(1));
  EXPECT_FALSE(dead[0].task.has_value());
  EXPECT_EQ(dead[0].raw.bytes, "{not json");
  EXPECT_EQ(dead[0].raw.original_bytes, 9);
  EXPECT_THAT(dead[0].reason, StartsWith("invalid message: "));
  EXPECT_EQ(dead[0].last_result.outcome, Outcome::kInvalid);
  EXPECT_THAT(Metrics(), HasSubstr("krond_worker_invalid_messages_total 1\n"));

  Finish("good", FakeExecutor::Succeeded());
  Step();
  EXPECT_EQ(Committed(), 2);
}

TEST_F(WorkerTest, RunOfAnotherClusterIsInvalid) {
  MakeWorker();
  messages::TaskMessage t = Task("foreign");
  t.cluster = "beta";
  Add(t);
  Step();
  Step();
  EXPECT_THAT(executor_.started(), IsEmpty());
  std::vector<messages::ResultMessage> results = Results();
  ASSERT_THAT(results, SizeIs(1));
  EXPECT_EQ(results[0].run_id, "foreign");
  EXPECT_EQ(results[0].outcome, Outcome::kInvalid);
  EXPECT_THAT(results[0].error, HasSubstr("\"beta\""));
  ASSERT_THAT(DeadLetters(), SizeIs(1));
  EXPECT_THAT(producer_.Acked("test.dead.beta"), IsEmpty());
  EXPECT_EQ(Committed(), 1);
}

TEST_F(WorkerTest, ConsumerErrorsAreCountedAndPollingGoesOn) {
  MakeWorker();
  consumer_.ScriptError("broker down");
  Add(Task("r1"));
  Step();
  EXPECT_THAT(Metrics(), HasSubstr("krond_worker_consumer_errors_total 1\n"));
  Step();
  EXPECT_TRUE(executor_.WaitBlocked("r1"));
}

// ---- Retries and dead letters ------------------------------------------------------------

TEST_F(WorkerTest, FailedRunWithAttemptsLeftIsRetriedAfterBackoff) {
  MakeWorker();
  Add(Task("r1", /*attempt=*/2, /*max_attempts=*/3));
  clock_.Set(kT0 + seconds(10));
  // The retry's delivery fails once: the commit must wait for it to be produced again.
  executor_.Script("r1", FakeExecutor::Failed(3, "boom"));
  producer_.FailNextDeliveries(1);
  Step();
  ASSERT_TRUE(StepUntil([&] { return worker_->completed() == 1; }));
  for (int i = 0; i < 3; ++i) Step();
  // The first of the two (the result) was not written: offset 0 may not be committed past.
  EXPECT_LE(Committed(), 0);
  EXPECT_THAT(Metrics(), HasSubstr("krond_worker_publish_errors_total 1\n"));
  clock_.Advance(milliseconds(500));
  Step();
  Step();
  EXPECT_EQ(Committed(), 1);

  std::vector<messages::ResultMessage> results = Results();
  ASSERT_THAT(results, SizeIs(1));
  EXPECT_EQ(results[0].outcome, Outcome::kFailed);
  EXPECT_EQ(results[0].exit_code, 3);
  EXPECT_EQ(results[0].attempt, 2);
  EXPECT_EQ(results[0].output_tail, "boom");
  EXPECT_EQ(results[0].finished_at, kT0 + seconds(10));
  std::vector<messages::TaskMessage> retries = RetryTasks();
  ASSERT_THAT(retries, SizeIs(1));
  const messages::TaskMessage& next = retries[0];
  EXPECT_EQ(next.run_id, "r1");
  EXPECT_EQ(next.attempt, 3);
  EXPECT_EQ(next.max_attempts, 3);
  EXPECT_EQ(next.command, "echo r1");
  EXPECT_EQ(next.scheduled_at, kT0);
  // Third attempt: 2 s * 2^(3-2) = 4 s after the failure, no jitter.
  EXPECT_EQ(next.not_before, kT0 + seconds(14));
  EXPECT_EQ(next.produced_at, kT0 + seconds(10));
  EXPECT_EQ(producer_.Acked(kRetry)[0].key, "r1");
  // Retries of a job go to one partition of the retry topic, as its first attempts do.
  EXPECT_EQ(producer_.Acked(kRetry)[0].partition_key, "backup");
  EXPECT_EQ(producer_.Acked(kResults)[0].partition_key, "") << "results spread by run id";
  EXPECT_THAT(DeadLetters(), IsEmpty());
  EXPECT_THAT(Metrics(), HasSubstr("krond_worker_retries_published_total{cluster=\"alpha\"} 1\n"));
}

TEST_F(WorkerTest, ExhaustedAttemptsGoToTheDeadLetterTopic) {
  MakeWorker();
  Add(Task("r1", 3, 3));
  executor_.Script("r1", FakeExecutor::Failed(1));
  Step();
  ASSERT_TRUE(StepUntil([&] { return worker_->completed() == 1; }));
  Step();
  EXPECT_THAT(RetryTasks(), IsEmpty());
  std::vector<messages::DeadLetter> dead = DeadLetters();
  ASSERT_THAT(dead, SizeIs(1));
  EXPECT_EQ(dead[0].reason, "attempts exhausted (3/3)");
  ASSERT_TRUE(dead[0].task.has_value());
  EXPECT_EQ(dead[0].task->run_id, "r1");
  EXPECT_EQ(dead[0].task->attempt, 3);
  EXPECT_EQ(dead[0].last_result.outcome, Outcome::kFailed);
  EXPECT_EQ(dead[0].last_result.exit_code, 1);
  EXPECT_EQ(producer_.Acked(kDead)[0].key, "r1");
  EXPECT_THAT(Results(), SizeIs(1));
  EXPECT_EQ(Committed(), 1);
  EXPECT_THAT(Metrics(), HasSubstr("krond_worker_dead_letters_published_total{cluster=\"alpha\","
                                   "reason=\"exhausted\"} 1\n"));
}

TEST_F(WorkerTest, OutcomeNotInRetryOnIsDeadLetteredAtOnce) {
  MakeWorker();
  Add(Task("r1", 1, 5));  // retry_on: [failed]
  executor_.Script("r1", FakeExecutor::TimedOut());
  Step();
  ASSERT_TRUE(StepUntil([&] { return worker_->completed() == 1; }));
  Step();
  EXPECT_THAT(RetryTasks(), IsEmpty());
  std::vector<messages::DeadLetter> dead = DeadLetters();
  ASSERT_THAT(dead, SizeIs(1));
  EXPECT_EQ(dead[0].reason, "outcome timed_out is not retried");
  std::vector<messages::ResultMessage> results = Results();
  ASSERT_THAT(results, SizeIs(1));
  EXPECT_EQ(results[0].outcome, Outcome::kTimedOut);
  EXPECT_EQ(results[0].error, "timed out after 90000ms");
  EXPECT_EQ(results[0].signal, 15);
  EXPECT_EQ(results[0].exit_code, std::nullopt);
}

TEST_F(WorkerTest, RetryQueueDefersARunUntilItsNotBefore) {
  MakeWorker(1, messages::Queue::kRetry, {0, 1});
  messages::TaskMessage later = Task("later", 2, 3);
  later.not_before = kT0 + seconds(30);
  Add(later, 0);
  messages::TaskMessage behind = Task("behind", 2, 3);
  behind.not_before = kT0 + seconds(5);
  Add(behind, 0);  // same partition, due earlier, but queued behind "later"
  clock_.Set(kT0 + seconds(10));
  executor_.SetDefaultOutcome(FakeExecutor::Succeeded());

  for (int i = 0; i < 5; ++i) Step();
  EXPECT_THAT(executor_.started(), IsEmpty());
  EXPECT_TRUE(consumer_.IsPaused(kRetry, 0));
  EXPECT_THAT(consumer_.seeks(), ElementsAre(kafka::TopicPartition{kRetry, 0, 0}));
  EXPECT_EQ(ReturnedCount("behind"), 0u) << "the partition is parked at the deferred message";

  // Other partitions keep flowing meanwhile.
  messages::TaskMessage other = Task("other", 2, 3);
  other.not_before = kT0 + seconds(1);
  Add(other, 1);
  ASSERT_TRUE(StepUntil([&] { return worker_->completed() == 1; }));
  EXPECT_THAT(executor_.started(), ElementsAre("other"));

  clock_.Set(kT0 + seconds(30) - milliseconds(1));
  for (int i = 0; i < 5; ++i) Step();
  EXPECT_THAT(executor_.started(), ElementsAre("other"));
  EXPECT_TRUE(consumer_.IsPaused(kRetry, 0));

  clock_.Set(kT0 + seconds(30));
  ASSERT_TRUE(StepUntil([&] { return worker_->completed() == 3; }));
  EXPECT_THAT(executor_.started(), ElementsAre("other", "later", "behind"));
  EXPECT_EQ(ReturnedCount("later"), 2u);
  Step();
  EXPECT_EQ(Committed(0), 2);
  EXPECT_EQ(Committed(1), 1);
  std::vector<messages::ResultMessage> results = Results();
  ASSERT_THAT(results, SizeIs(3));
  for (const auto& r : results) EXPECT_EQ(r.queue, "retry");
}

TEST_F(WorkerTest, NotBeforeIsIgnoredOnTheMainQueue) {
  // One message must not park a partition of first attempts for as long as it says.
  MakeWorker();
  messages::TaskMessage t = Task("r1");
  t.not_before = kT0 + hours(24 * 365);
  Add(t);
  Step();
  EXPECT_TRUE(executor_.WaitBlocked("r1"));
  EXPECT_THAT(consumer_.seeks(), IsEmpty()) << "never parked";
}

TEST_F(WorkerTest, ARetryWaitsAtMostItsMaxBackoff) {
  MakeWorker(1, messages::Queue::kRetry);
  messages::TaskMessage t = Task("r1", 2, 3);
  t.not_before = kT0 + hours(24 * 365);  // retry.max_backoff is 60 s
  Add(t);
  executor_.SetDefaultOutcome(FakeExecutor::Succeeded());
  for (int i = 0; i < 3; ++i) Step();
  EXPECT_THAT(executor_.started(), IsEmpty());
  clock_.Set(kT0 + seconds(60));
  ASSERT_TRUE(StepUntil([&] { return worker_->completed() == 1; }));
  EXPECT_THAT(executor_.started(), ElementsAre("r1"));
}

// ---- Records Kafka refuses ---------------------------------------------------------------

// Issue 19: ~340 KB of garbage became a dead letter over librdkafka's 1,000,000-byte limit
// (invalid bytes grew 3x as U+FFFD); it was retried forever and the partition's offsets
// never advanced again.
TEST_F(WorkerTest, APoisonMessageIsDeadLetteredWithinTheLimitAndPassed) {
  producer_.SetMaxMessageBytes(1'000'000);
  MakeWorker();
  consumer_.Append(kTasks, 0, std::string(300'000, '\xfe'), std::string(340'000, '\xff'));
  Add(Task("next"));
  executor_.SetDefaultOutcome(FakeExecutor::Succeeded());
  ASSERT_TRUE(StepUntil([&] { return worker_->completed() == 1; }));
  Step();
  EXPECT_EQ(Committed(), 2);
  std::vector<messages::DeadLetter> dead = DeadLetters();
  ASSERT_THAT(dead, SizeIs(1));
  EXPECT_EQ(dead[0].raw.original_bytes, 340'000);
  EXPECT_EQ(dead[0].raw.bytes, std::string(messages::kMaxRawCopyBytes, '\xff'));
  EXPECT_LE(dead[0].last_result.run_id.size(), 200u) << "the key is cut too";
  EXPECT_THAT(Metrics(), HasSubstr("krond_worker_records_dropped_total{record=\"dead_letter\"} 0"));
}

TEST_F(WorkerTest, AHugeOutputIsCutToFitTheMessageLimit) {
  producer_.SetMaxMessageBytes(1'000'000);
  MakeWorker();
  Add(Task("r1"));
  // As with --output-tail 64MiB: more than any message holds.
  executor_.Script("r1", FakeExecutor::Succeeded(std::string(3'000'000, 'x') + "the end\n"));
  ASSERT_TRUE(StepUntil([&] { return worker_->completed() == 1; }));
  Step();
  std::vector<messages::ResultMessage> results = Results();
  ASSERT_THAT(results, SizeIs(1));
  EXPECT_THAT(results[0].output_tail, ::testing::EndsWith("the end\n"));
  EXPECT_GT(results[0].output_tail.size(), 900'000u);
  EXPECT_EQ(results[0].output_bytes, 3'000'008);
  EXPECT_EQ(Committed(), 1);
}

// The topic's max.message.bytes is smaller than the worker's limit: the broker refuses the
// result, and the worker publishes it without its output instead.
TEST_F(WorkerTest, ARefusedResultIsReplacedByOneWithoutOutput) {
  producer_.SetMaxMessageBytes(100'000);
  MakeWorker();
  Add(Task("r1"));
  executor_.Script("r1", FakeExecutor::Succeeded(std::string(500'000, 'x')));
  ASSERT_TRUE(StepUntil([&] { return worker_->completed() == 1; }));
  Step();
  std::vector<messages::ResultMessage> results = Results();
  ASSERT_THAT(results, SizeIs(1));
  EXPECT_EQ(results[0].outcome, Outcome::kSucceeded);
  EXPECT_EQ(results[0].output_tail, "");
  EXPECT_THAT(results[0].error, HasSubstr("output not published: the result was refused"));
  EXPECT_EQ(Committed(), 1);
  const std::string text = Metrics();
  EXPECT_THAT(text, HasSubstr("krond_worker_publish_refused_total{record=\"result\","
                              "reason=\"too_large\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("krond_worker_records_dropped_total{record=\"result\"} 0\n"));
}

// An authorization error fails the same way every time: before issue 19 the worker retried
// it forever, silently, and its partition never committed again.
TEST_F(WorkerTest, AResultTheBrokerRefusesIsDroppedCountedAndPassed) {
  producer_.RefuseTopic(kResults, kafka::ProduceErrorKind::kUnauthorized);
  MakeWorker();
  Add(Task("r1"));
  Add(Task("r2"));
  executor_.SetDefaultOutcome(FakeExecutor::Succeeded());
  ASSERT_TRUE(StepUntil([&] { return worker_->completed() == 2; }));
  for (int i = 0; i < 3; ++i) Step();
  EXPECT_EQ(Committed(), 2) << "one refused record must not stall the partition";
  EXPECT_EQ(worker_->completed(), 2u);
  const std::string text = Metrics();
  EXPECT_THAT(text, HasSubstr("krond_worker_publish_refused_total{record=\"result\","
                              "reason=\"unauthorized\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("krond_worker_records_dropped_total{record=\"result\"} 2\n"));
  EXPECT_THAT(text, HasSubstr("krond_worker_publish_errors_total 0\n")) << "never retried";
}

TEST_F(WorkerTest, ARefusedRetryIsDeadLetteredSoTheRunIsNotLost) {
  producer_.RefuseTopic(kRetry, kafka::ProduceErrorKind::kUnauthorized);
  MakeWorker();
  Add(Task("r1", 1, 3));
  executor_.Script("r1", FakeExecutor::Failed(2));
  ASSERT_TRUE(StepUntil([&] { return worker_->completed() == 1; }));
  for (int i = 0; i < 3; ++i) Step();
  EXPECT_THAT(RetryTasks(), IsEmpty());
  std::vector<messages::DeadLetter> dead = DeadLetters();
  ASSERT_THAT(dead, SizeIs(1));
  EXPECT_THAT(dead[0].reason, StartsWith("retry not published: "));
  ASSERT_TRUE(dead[0].task.has_value()) << "replayable";
  EXPECT_EQ(dead[0].task->run_id, "r1");
  EXPECT_EQ(Committed(), 1);
  const std::string text = Metrics();
  EXPECT_THAT(text, HasSubstr("krond_worker_publish_refused_total{record=\"retry\","
                              "reason=\"unauthorized\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("krond_worker_dead_letters_published_total{cluster=\"alpha\","
                              "reason=\"retry_refused\"} 1\n"));
}

TEST_F(WorkerTest, ADeadLetterTooLargeForTheTopicIsShortened) {
  producer_.SetMaxMessageBytes(150'000);
  MakeWorker();
  messages::TaskMessage t = Task("r1", 1, 1);
  t.command = std::string(messages::kMaxCommandBytes, '\x02');  // 384 KiB as JSON
  Add(t);
  executor_.Script("r1", FakeExecutor::Failed(1));
  ASSERT_TRUE(StepUntil([&] { return worker_->completed() == 1; }));
  for (int i = 0; i < 3; ++i) Step();
  std::vector<messages::DeadLetter> dead = DeadLetters();
  ASSERT_THAT(dead, SizeIs(1));
  EXPECT_FALSE(dead[0].task.has_value());
  EXPECT_TRUE(dead[0].raw.truncated());
  EXPECT_THAT(dead[0].reason, HasSubstr("dead letter refused"));
  EXPECT_EQ(dead[0].last_result.run_id, "r1");
  EXPECT_EQ(Committed(), 1);
}

// ---- Rebalances ------------------------------------------------------------------------

TEST_F(WorkerTest, RevokeWaitsForTheRunsOfThePartitionAndCommitsThem) {
  drain_timeout_ = hours(1);
  producer_.AdvanceClockOnIdlePoll(&clock_);
  MakeWorker(/*slots=*/3, messages::Queue::kMain, {0, 1});
  Add(Task("p0-a"), 0);
  Add(Task("p0-b"), 0);
  Add(Task("p1-a"), 1);
  for (int i = 0; i < 3; ++i) Step();
  ASSERT_TRUE(executor_.WaitStarted(3));

  // p0-a finishes, but its result is not acknowledged before the revoke begins.
  producer_.HoldDeliveries(true);
  Finish("p0-a", FakeExecutor::Succeeded());
  EXPECT_LE(Committed(0), 0);
  producer_.HoldDeliveries(false);
  // p0-b ends 3 s into the revoke: the partition is handed over only after that, so its
  // next owner can never run a job of it while this worker still does.
  const MonoTime revoke_at = clock_.MonoNow();
  auto released = ReleaseAfter("p0-b", seconds(3), /*returned=*/2);
  consumer_.Revoke({{kTasks, 0, -1}});
  EXPECT_TRUE(*released);
  EXPECT_GE(clock_.MonoNow() - revoke_at, seconds(3));
  EXPECT_EQ(Committed(0), 2) << "both results acknowledged and committed before the hand-over";
  ASSERT_EQ(Results().size(), 2u);
  EXPECT_EQ(Results()[1].run_id, "p0-b");
  EXPECT_EQ(Results()[1].outcome, Outcome::kSucceeded) << "finished, not cancelled";
  EXPECT_EQ(worker_->running(), 1u) << "p1-a, of a partition still owned, goes on";

  // Pausing for full slots touches only partitions still assigned.
  Add(Task("p1-b"), 1);
  Add(Task("p1-c"), 1);
  ASSERT_TRUE(StepUntil([&] { return executor_.started().size() == 5; }));
  ASSERT_FALSE(consumer_.pause_calls().empty());
  EXPECT_THAT(consumer_.pause_calls().back(), ElementsAre(kafka::TopicPartition{kTasks, 1, -1}));
  for (const char* id : {"p1-a", "p1-b", "p1-c"}) Finish(id, FakeExecutor::Succeeded());
  Step();
  EXPECT_EQ(Committed(1), 3);
}

TEST_F(WorkerTest, RevokeCancelsRunsPastTheDrainTimeoutAndTheNextOwnerRunsThemAgain) {
  drain_timeout_ = seconds(5);
  // The revoke gives up on runs that ignore the cancel after drain + kill grace + 10 s of
  // simulated time; the fake returns at once on cancel, so make that limit unreachable.
  kill_grace_ = hours(24);
  producer_.AdvanceClockOnIdlePoll(&clock_);
  MakeWorker(/*slots=*/1);
  // A 20-minute job with a 5-minute starting deadline, started on time.
  Add(WithDeadline(Task("r1"), std::chrono::minutes(5)));
  Step();
  ASSERT_TRUE(executor_.WaitBlocked("r1"));
  Step();
  EXPECT_EQ(consumer_.CommittedMetadata(kTasks, 0), R"({"v":1,"started":[0]})")
      << "the start is committed before the run ends";

  clock_.Set(kT0 + std::chrono::minutes(10));
  const MonoTime revoke_at = clock_.MonoNow();
  consumer_.Revoke({{kTasks, 0, -1}});
  EXPECT_GE(clock_.MonoNow() - revoke_at, seconds(5)) << "waited the drain timeout";
  EXPECT_THAT(executor_.returned(), ElementsAre("r1")) << "cancelled, and ended, before";
  EXPECT_EQ(worker_->running(), 0u);
  EXPECT_THAT(Results(), IsEmpty()) << "no result for a run handed over";
  EXPECT_EQ(Committed(), 0);
  EXPECT_EQ(consumer_.CommittedMetadata(kTasks, 0), R"({"v":1,"started":[0]})");
  EXPECT_THAT(Metrics(), HasSubstr("krond_worker_runs_handed_over_total{cluster=\"alpha\","
                                   "queue=\"main\",reason=\"revoked\"} 1\n"));

  // The partition comes back (as to any next owner): 10 minutes late, r1 runs again,
  // because it had started in time.
  consumer_.Assign({{kTasks, 0, -1}});
  ASSERT_TRUE(StepUntil([&] { return executor_.started().size() == 2; }));
  Finish("r1", FakeExecutor::Succeeded());
  // The result is acknowledged on a later poll than the one that saw the run complete.
  ASSERT_TRUE(StepUntil([&] { return !Results().empty(); }));
  ASSERT_THAT(Results(), SizeIs(1));
  EXPECT_EQ(Results()[0].outcome, Outcome::kSucceeded);
  EXPECT_THAT(Metrics(), HasSubstr("krond_worker_runs_redelivered_total{cluster=\"alpha\","
                                   "queue=\"main\",state=\"started\"} 1\n"));
  EXPECT_THAT(Metrics(),
              HasSubstr("krond_worker_runs_missed_deadline_total{cluster=\"alpha\"} 0\n"));
  Step();
  EXPECT_EQ(Committed(), 1);
  EXPECT_EQ(consumer_.CommittedMetadata(kTasks, 0), "");
}

TEST_F(WorkerTest, RunsFinishedBeforeTheirPartitionWasLostAreNotRunAgainWhenItComesBack) {
  MakeWorker();
  Add(Task("r1"));
  Add(Task("r2"));
  // The broker goes away: no commit goes through (r1's result was acknowledged just before),
  // r2's result waits, and the session expires.
  consumer_.FailNextCommits(1000);
  Step();
  Finish("r1", FakeExecutor::Succeeded());
  producer_.HoldDeliveries(true);
  ASSERT_TRUE(StepUntil([&] { return executor_.specs().size() == 2; }));
  Finish("r2", FakeExecutor::Succeeded());
  consumer_.Lose({{kTasks, 0, -1}});
  consumer_.FailNextCommits(0);
  EXPECT_EQ(Committed(), -1);
  consumer_.Assign({{kTasks, 0, -1}});  // back to this worker, from offset 0
  for (int i = 0; i < 5; ++i) Step();
  EXPECT_EQ(ReturnedCount("r1"), 2u);
  EXPECT_EQ(ReturnedCount("r2"), 2u);
  EXPECT_THAT(executor_.specs(), SizeIs(2)) << "r1 finished, r2 still reporting: not run again";
  producer_.HoldDeliveries(false);
  ASSERT_TRUE(StepUntil([&] { return Committed() == 2; }));
  EXPECT_THAT(Results(), SizeIs(2));
}

TEST_F(WorkerTest, LostPartitionCancelsItsRunsAtOnceAndCommitsNothing) {
  drain_timeout_ = hours(1);
  kill_grace_ = hours(24);  // see RevokeCancelsRunsPastTheDrainTimeout...
  producer_.AdvanceClockOnIdlePoll(&clock_);
  MakeWorker(/*slots=*/2, messages::Queue::kMain, {0, 1});
  Add(Task("lost"), 0);
  Add(Task("kept"), 1);
  Step();
  Step();
  ASSERT_TRUE(executor_.WaitBlocked("lost"));
  ASSERT_TRUE(executor_.WaitBlocked("kept"));
  Step();
  const size_t commits_before = consumer_.commits().size();
  const MonoTime lost_at = clock_.MonoNow();
  // When (in simulated time) the command was seen to end; each poll of the wait loop lets
  // the (real) slot thread catch up first.
  std::optional<MonoTime> ended_at;
  producer_.SetPollHook([&] {
    if (!ended_at && executor_.WaitReturned(1, milliseconds(100))) ended_at = clock_.MonoNow();
  });
  consumer_.Lose({{kTasks, 0, -1}});
  // No drain (an hour here): the partition may have a new owner already.
  ASSERT_TRUE(ended_at.has_value());
  EXPECT_LT(*ended_at - lost_at, seconds(1));
  EXPECT_THAT(executor_.returned(), ElementsAre("lost"));
  EXPECT_EQ(consumer_.commits().size(), commits_before);
  EXPECT_THAT(Metrics(), HasSubstr("reason=\"lost\"} 1\n"));
  Finish("kept", FakeExecutor::Succeeded());
  Step();
  EXPECT_EQ(Committed(1), 1);
}

TEST_F(WorkerTest, RevokedUnfinishedRunIsRedeliveredOnReassignment) {
  drain_timeout_ = seconds(1);
  kill_grace_ = hours(24);  // see RevokeCancelsRunsPastTheDrainTimeout...
  producer_.AdvanceClockOnIdlePoll(&clock_);
  MakeWorker(/*slots=*/1);
  Add(Task("r1"));
  Step();
  ASSERT_TRUE(executor_.WaitBlocked("r1"));
  consumer_.Revoke({{kTasks, 0, -1}});
  consumer_.Assign({{kTasks, 0, -1}});
  // Fetching resumes from the committed offset: r1 comes again (at least once).
  EXPECT_EQ(consumer_.Position(kTasks, 0), 0);
  ASSERT_TRUE(StepUntil([&] { return executor_.started().size() == 2; }));
  Finish("r1", FakeExecutor::Succeeded());
  EXPECT_THAT(executor_.started(), ElementsAre("r1", "r1"));
  EXPECT_THAT(executor_.returned(), ElementsAre("r1", "r1"));
  EXPECT_EQ(ReturnedCount("r1"), 2u);
}

// ---- What the next owner of a partition learns from the last commit ---------------------

TEST_F(WorkerTest, RunStartedByADeadOwnerRunsAgainPastItsDeadline) {
  // The previous owner started offset 0 and died; offset 1 was never taken.
  consumer_.SetCommitted({kTasks, 0, 0, R"({"v":1,"started":[0]})"});
  MakeWorker(/*slots=*/2);
  EXPECT_EQ(consumer_.committed_reads(), 1);
  Add(WithDeadline(Task("started"), std::chrono::minutes(5)));
  Add(WithDeadline(Task("never-taken"), std::chrono::minutes(5)));
  clock_.Set(kT0 + std::chrono::minutes(20));
  Step();
  Step();
  ASSERT_TRUE(executor_.WaitBlocked("started"));
  ASSERT_TRUE(StepUntil([&] { return Results().size() == 1; }));
  EXPECT_EQ(Results()[0].run_id, "never-taken");
  EXPECT_EQ(Results()[0].outcome, Outcome::kSkipped) << "the deadline holds for a new run";
  Finish("started", FakeExecutor::Succeeded());
  Step();
  EXPECT_EQ(Committed(), 2);
}

TEST_F(WorkerTest, RunFinishedByADeadOwnerIsNotRunAgain) {
  // The previous owner finished offset 1 (its result is in Kafka) but died while offset 0
  // still ran, so its commit stayed at 0.
  consumer_.SetCommitted({kTasks, 0, 0, R"({"v":1,"started":[0],"done":[1]})"});
  MakeWorker(/*slots=*/2);
  Add(Task("r0"));
  Add(Task("r1"));
  Step();
  Step();
  ASSERT_TRUE(executor_.WaitBlocked("r0"));
  Step();
  EXPECT_THAT(executor_.started(), ElementsAre("r0"));
  EXPECT_EQ(consumer_.CommittedMetadata(kTasks, 0), R"({"v":1,"started":[0],"done":[1]})")
      << "passed on while r0 runs";
  Finish("r0", FakeExecutor::Succeeded());
  Step();
  EXPECT_EQ(Committed(), 2);
  EXPECT_THAT(Results(), SizeIs(1));
  EXPECT_THAT(Metrics(), HasSubstr("state=\"finished\"} 1\n"));
}

TEST_F(WorkerTest, UnreadableCommitMetadataIsCountedAndRunsAreTakenAsNew) {
  consumer_.SetCommitted({kTasks, 0, 0, "written by another tool"});
  MakeWorker();
  EXPECT_THAT(Metrics(),
              HasSubstr("krond_worker_commit_metadata_errors_total{reason=\"decode\"} 1\n"));
  consumer_.FailNextCommittedReads(1);
  consumer_.Assign({{kTasks, 1, -1}});
  EXPECT_THAT(Metrics(),
              HasSubstr("krond_worker_commit_metadata_errors_total{reason=\"read\"} 1\n"));
  Add(WithDeadline(Task("late"), seconds(30)));
  clock_.Set(kT0 + seconds(31));
  ASSERT_TRUE(StepUntil([&] { return Results().size() == 1; }));
  EXPECT_EQ(Results()[0].outcome, Outcome::kSkipped);
}

// ---- Stop ------------------------------------------------------------------------------

TEST_F(WorkerTest, StopCancelsRunsStillGoingAfterTheDrainTimeoutAndLeavesThemUncommitted) {
  drain_timeout_ = seconds(5);
  // Stop gives up on runs that ignore the cancel after drain + kill grace + 1 s of
  // simulated time; the fake returns at once on cancel, so make that limit unreachable.
  kill_grace_ = hours(24);
  producer_.AdvanceClockOnIdlePoll(&clock_);
  MakeWorker(/*slots=*/2);
  Add(Task("stuck"));
  Add(Task("quick"));
  Step();
  Step();
  ASSERT_TRUE(executor_.WaitBlocked("stuck"));
  Finish("quick", FakeExecutor::Succeeded());
  Step();
  EXPECT_LE(Committed(), 0);

  const MonoTime stop_at = clock_.MonoNow();
  worker_->Stop();
  EXPECT_GE(clock_.MonoNow() - stop_at, seconds(5)) << "waited the drain timeout";
  EXPECT_THAT(executor_.returned(), ElementsAre("quick", "stuck"));
  EXPECT_EQ(worker_->running(), 0u);
  // No result for the cancelled run, and its offset is never committed past.
  std::vector<messages::ResultMessage> results = Results();
  ASSERT_THAT(results, SizeIs(1));
  EXPECT_EQ(results[0].run_id, "quick");
  EXPECT_LE(Committed(), 0);
  EXPECT_TRUE(consumer_.closed());
}

// Issue 19: with the broker gone, a worker ignored SIGTERM for 12+ s and was SIGKILLed,
// with no log of what it had left unpublished.
TEST_F(WorkerTest, StopWithKafkaUnreachableGivesUpAfterTheFlushTimeoutAndNamesTheRuns) {
  drain_timeout_ = seconds(30);
  producer_.AdvanceClockOnIdlePoll(&clock_);
  MakeWorker(/*slots=*/2);
  Add(Task("r1"));
  Add(Task("r2", 1, 3));
  executor_.Script("r1", FakeExecutor::Succeeded());
  executor_.Script("r2", FakeExecutor::Failed(1));  // a result and a retry
  producer_.HoldDeliveries(true);                   // the broker is gone
  ASSERT_TRUE(StepUntil([&] { return worker_->completed() == 2; }));

  krond::testing::CapturedLog log;
  const MonoTime stop_at = clock_.MonoNow();
  worker_->Stop();
  const auto took = clock_.MonoNow() - stop_at;
  EXPECT_GE(took, seconds(5)) << "waited the flush timeout";
  EXPECT_LT(took, seconds(6)) << "and no longer: no command was running";
  EXPECT_LE(Committed(), 0) << "nothing acknowledged, nothing committed: both are redelivered";
  EXPECT_THAT(log.Lines(),
              Contains(HasSubstr("stopping with 3 record(s) of 2 run(s) not acknowledged by "
                                 "Kafka after 5000ms (is it reachable?); their offsets stay "
                                 "uncommitted, so another worker runs them again: r1, r2")));
  EXPECT_THAT(Metrics(), HasSubstr("krond_worker_records_unflushed_total 3\n"));
  EXPECT_TRUE(consumer_.closed());
}

TEST_F(WorkerTest, StopWaitsForRunningCommandsAndStopsFetching) {
  drain_timeout_ = hours(1);
  producer_.AdvanceClockOnIdlePoll(&clock_);
  MakeWorker(/*slots=*/1);
  Add(Task("r1"));
  Step();
  ASSERT_TRUE(executor_.WaitBlocked("r1"));
  Add(Task("r2"));  // not fetched yet: the single slot is busy

  // The command ends 3 s into the drain.
  const MonoTime stop_at = clock_.MonoNow();
  auto released = ReleaseAfter("r1", seconds(3), /*returned=*/1);
  const size_t resumes_before = consumer_.resume_calls().size();
  worker_->Stop();
  EXPECT_TRUE(*released);
  EXPECT_LT(clock_.MonoNow() - stop_at, hours(1)) << "no cancel needed";
  std::vector<messages::ResultMessage> results = Results();
  ASSERT_THAT(results, SizeIs(1));
  EXPECT_EQ(results[0].run_id, "r1");
  EXPECT_EQ(results[0].outcome, Outcome::kSucceeded);
  EXPECT_EQ(Committed(), 1);
  EXPECT_TRUE(consumer_.closed());
  // A slot freeing during the drain does not resume fetching.
  EXPECT_EQ(consumer_.resume_calls().size(), resumes_before);
  EXPECT_EQ(ReturnedCount("r2"), 0u);
  EXPECT_THAT(executor_.started(), ElementsAre("r1"));
}

TEST_F(WorkerTest, StopWithNothingRunningReturnsAtOnce) {
  producer_.AdvanceClockOnIdlePoll(&clock_);
  MakeWorker();
  const MonoTime stop_at = clock_.MonoNow();
  worker_->Stop();
  EXPECT_EQ(clock_.MonoNow(), stop_at);
  EXPECT_TRUE(consumer_.closed());
  worker_->Stop();  // idempotent
}

// ---- Per-run limits and sandbox --------------------------------------------------------

TEST_F(WorkerTest, WorkerLimitsApplyToEveryRun) {
  limits_.cpu_seconds = 10;
  limits_.address_space_bytes = 100u << 20;
  limits_.open_files = 64;
  limits_.processes = 50;
  MakeWorker();
  Add(Task("r1"));
  executor_.SetDefaultOutcome(FakeExecutor::Succeeded());
  ASSERT_TRUE(StepUntil([&] { return worker_->completed() == 1; }));
  const exec::ResourceLimits l = executor_.specs().at(0).limits;
  EXPECT_EQ(l.cpu_seconds, 10u);
  EXPECT_EQ(l.address_space_bytes, 100u << 20);
  EXPECT_EQ(l.open_files, 64u);
  EXPECT_EQ(l.processes, 50u);
}

TEST_F(WorkerTest, SandboxedJobRunsOnTheSandboxExecutorWithItsNetworkSetting) {
  FakeExecutor sandbox(&clock_);
  sandbox.SetDefaultOutcome(FakeExecutor::Succeeded());
  executor_.SetDefaultOutcome(FakeExecutor::Succeeded());
  sandboxed_ = &sandbox;
  MakeWorker();
  messages::TaskMessage boxed = Task("boxed");
  boxed.sandbox = "bubblewrap";
  boxed.network = true;
  Add(boxed);
  Add(Task("plain"));
  ASSERT_TRUE(StepUntil([&] { return worker_->completed() == 2; }));
  EXPECT_THAT(sandbox.started(), ElementsAre("boxed"));
  EXPECT_TRUE(sandbox.specs().at(0).sandbox.allow_network);
  EXPECT_THAT(executor_.started(), ElementsAre("plain"));
}

TEST_F(WorkerTest, SandboxedJobOnAWorkerWithoutSandboxFailsAndNeverRunsUnsandboxed) {
  executor_.SetDefaultOutcome(FakeExecutor::Succeeded());
  MakeWorker();
  messages::TaskMessage boxed = Task("boxed");
  boxed.sandbox = "bubblewrap";
  Add(boxed);
  messages::TaskMessage odd = Task("odd");
  odd.sandbox = "gvisor";
  Add(odd);
  ASSERT_TRUE(StepUntil([&] { return worker_->completed() == 2; }));
  Step();
  EXPECT_THAT(executor_.started(), IsEmpty());
  std::vector<messages::ResultMessage> results = Results();
  ASSERT_THAT(results, SizeIs(2));
  EXPECT_EQ(results[0].outcome, Outcome::kSpawnFailed);
  EXPECT_THAT(results[0].error, HasSubstr("sandbox bubblewrap requested"));
  EXPECT_EQ(results[1].outcome, Outcome::kSpawnFailed);
  EXPECT_THAT(results[1].error, HasSubstr("unknown sandbox \"gvisor\""));
  EXPECT_EQ(Committed(), 2);
}

// ---- Run-as user and root refusal ------------------------------------------------------

TEST_F(WorkerTest, ARootWorkerRefusesRunsWithoutAUserAndNeverRunsThem) {
  refuse_root_ = true;
  executor_.SetDefaultOutcome(FakeExecutor::Succeeded());
  MakeWorker();
  Add(Task("nouser"));
  messages::TaskMessage root = Task("root");
  root.user = "root";
  Add(root);
  messages::TaskMessage backup = Task("backup");
  backup.user = "backup";
  Add(backup);
  ASSERT_TRUE(StepUntil([&] { return worker_->completed() == 3; }));
  Step();
  EXPECT_THAT(executor_.started(), ElementsAre("backup"));
  EXPECT_EQ(executor_.specs().at(0).user, "backup");
  std::vector<messages::ResultMessage> results = Results();
  ASSERT_THAT(results, SizeIs(3));
  for (int i : {0, 1}) {
    EXPECT_EQ(results[i].outcome, Outcome::kSpawnFailed);
    EXPECT_THAT(results[i].error, HasSubstr("refusing to run as root"));
    EXPECT_THAT(results[i].error, HasSubstr("--allow-root"));
  }
  EXPECT_EQ(results[2].outcome, Outcome::kSucceeded);
  EXPECT_THAT(Metrics(),
              HasSubstr("krond_worker_runs_refused_total{cluster=\"alpha\",reason=\"root\"} 2"));
  EXPECT_EQ(Committed(), 3);
}

TEST_F(WorkerTest, RunAsIsTheDefaultUserAndAJobsUserWins) {
  refuse_root_ = true;
  run_as_ = "krond-jobs";
  executor_.SetDefaultOutcome(FakeExecutor::Succeeded());
  MakeWorker();
  Add(Task("default"));
  messages::TaskMessage own = Task("own");
  own.user = "backup";
  Add(own);
  ASSERT_TRUE(StepUntil([&] { return worker_->completed() == 2; }));
  ASSERT_THAT(executor_.specs(), SizeIs(2));
  EXPECT_EQ(executor_.specs().at(0).user, "krond-jobs");
  EXPECT_EQ(executor_.specs().at(1).user, "backup");
}

TEST_F(WorkerTest, AWorkerAllowedRootRunsJobsWithoutUserAsItself) {
  executor_.SetDefaultOutcome(FakeExecutor::Succeeded());
  MakeWorker();
  Add(Task("r1"));
  ASSERT_TRUE(StepUntil([&] { return worker_->completed() == 1; }));
  EXPECT_EQ(executor_.specs().at(0).user, "");
}

TEST_F(WorkerTest, AnUnknownUserIsCountedAsARefusal) {
  exec::RunOutcome unknown;
  unknown.kind = exec::OutcomeKind::kSpawnFailed;
  unknown.refusal = exec::Refusal::kUnknownUser;
  unknown.error = "unknown user \"ghost\" on this worker";
  executor_.SetDefaultOutcome(unknown);
  MakeWorker();
  messages::TaskMessage t = Task("r1");
  t.user = "ghost";
  Add(t);
  ASSERT_TRUE(StepUntil([&] { return worker_->completed() == 1; }));
  Step();
  ASSERT_THAT(Results(), SizeIs(1));
  EXPECT_EQ(Results()[0].error, "unknown user \"ghost\" on this worker");
  EXPECT_THAT(Metrics(), HasSubstr("krond_worker_runs_refused_total{cluster=\"alpha\","
                                   "reason=\"unknown_user\"} 1"));
}

TEST_F(WorkerTest, ASandboxedRunIgnoresRunAsAndRefusesAUser) {
  refuse_root_ = true;
  run_as_ = "krond-jobs";
  FakeExecutor sandbox(&clock_);
  sandbox.SetDefaultOutcome(FakeExecutor::Succeeded());
  sandboxed_ = &sandbox;
  MakeWorker();
  messages::TaskMessage boxed = Task("boxed");
  boxed.sandbox = "bubblewrap";
  Add(boxed);
  messages::TaskMessage mixed = Task("mixed");
  mixed.sandbox = "bubblewrap";
  mixed.user = "backup";
  Add(mixed);
  ASSERT_TRUE(StepUntil([&] { return worker_->completed() == 2; }));
  Step();
  EXPECT_THAT(sandbox.started(), ElementsAre("boxed"));
  EXPECT_EQ(sandbox.specs().at(0).user, "");
  ASSERT_THAT(Results(), SizeIs(2));
  EXPECT_THAT(Results()[1].error, HasSubstr("cannot be combined with sandbox bubblewrap"));
}

TEST_F(WorkerTest, MicroVmJobRunsOnTheMicroVmExecutorWithItsSizeAndReportsTheVm) {
  FakeExecutor microvm(&clock_);
  exec::RunOutcome booted = FakeExecutor::Succeeded("in a vm");
  booted.vm = exec::VmReport{exec::Accelerator::kTcg, milliseconds(1840)};
  microvm.SetDefaultOutcome(booted);
  microvm_ = &microvm;
  MakeWorker();
  messages::TaskMessage vm = Task("vm");
  vm.sandbox = "microvm";
  vm.network = true;
  vm.microvm = messages::TaskMessage::MicroVm{512, 2};
  Add(vm);
  ASSERT_TRUE(StepUntil([&] { return worker_->completed() == 1; }));
  Step();
  ASSERT_THAT(microvm.started(), ElementsAre("vm"));
  const exec::SandboxSpec spec = microvm.specs().at(0).sandbox;  // specs() is a copy
  EXPECT_TRUE(spec.allow_network);
  EXPECT_EQ(spec.vm_memory_mib, 512u);
  EXPECT_EQ(spec.vm_vcpus, 2u);
  EXPECT_THAT(executor_.started(), IsEmpty());
  std::vector<messages::ResultMessage> results = Results();
  ASSERT_THAT(results, SizeIs(1));
  ASSERT_TRUE(results[0].vm);
  EXPECT_EQ(results[0].vm->accelerator, "tcg");
  EXPECT_EQ(results[0].vm->boot_ms, 1840);
  EXPECT_THAT(Metrics(),
              HasSubstr("krond_worker_microvm_boot_seconds_count{accelerator=\"tcg\"} 1"));
}

TEST_F(WorkerTest, MicroVmJobOnAWorkerWithoutOneFailsAndNeverRunsOutsideAVm) {
  executor_.SetDefaultOutcome(FakeExecutor::Succeeded());
  MakeWorker();
  messages::TaskMessage vm = Task("vm");
  vm.sandbox = "microvm";
  Add(vm);
  ASSERT_TRUE(StepUntil([&] { return worker_->completed() == 1; }));
  Step();
  EXPECT_THAT(executor_.started(), IsEmpty());
  std::vector<messages::ResultMessage> results = Results();
  ASSERT_THAT(results, SizeIs(1));
  EXPECT_EQ(results[0].outcome, Outcome::kSpawnFailed);
  EXPECT_THAT(results[0].error, HasSubstr("sandbox microvm requested"));
}

TEST_F(WorkerTest, BootFailureIsRetriedWhateverRetryOnSays) {
  FakeExecutor microvm(&clock_);
  exec::RunOutcome failed;
  failed.kind = exec::OutcomeKind::kBootFailed;
  failed.error = "the VM stopped before starting the command";
  microvm.SetDefaultOutcome(failed);
  microvm_ = &microvm;
  MakeWorker();
  messages::TaskMessage vm = Task("vm", /*attempt=*/1, /*max_attempts=*/2);
  vm.sandbox = "microvm";
  vm.retry.retry_on = {};
  Add(vm);
  ASSERT_TRUE(StepUntil([&] { return worker_->completed() == 1; }));
  Step();
  std::vector<messages::ResultMessage> results = Results();
  ASSERT_THAT(results, SizeIs(1));
  EXPECT_EQ(results[0].outcome, Outcome::kBootFailed);
  ASSERT_THAT(RetryTasks(), SizeIs(1));
  EXPECT_EQ(RetryTasks()[0].attempt, 2);
}

TEST(LazySandboxExecutorTest, ProbesOnceAndRefusesEveryRunIfTheSandboxIsUnusable) {
  FakeExecutor inner;
  inner.SetDefaultOutcome(FakeExecutor::Succeeded());
  int probes = 0;
  LazySandboxExecutor lazy(inner, [&]() -> Status {
    ++probes;
    return MakeError("bwrap: No permissions to create new namespace");
  });
  EXPECT_EQ(probes, 0) << "not probed before a run asks for it";
  exec::RunSpec spec;
  spec.argv = {"true"};
  exec::CancelToken token;
  for (int i = 0; i < 3; ++i) {
    exec::RunOutcome o = lazy.Run(spec, token);
    EXPECT_EQ(o.kind, exec::OutcomeKind::kSpawnFailed);
    EXPECT_THAT(o.error, HasSubstr("No permissions to create new namespace"));
  }
  EXPECT_EQ(probes, 1);
  EXPECT_THAT(inner.started(), IsEmpty());
}

TEST(LazySandboxExecutorTest, RunsInTheSandboxWhenTheProbeSucceeds) {
  FakeExecutor inner;
  inner.SetDefaultOutcome(FakeExecutor::Succeeded("ok"));
  int probes = 0;
  LazySandboxExecutor lazy(inner, [&]() -> Status {
    ++probes;
    return {};
  });
  exec::RunSpec spec;
  spec.argv = {"true"};
  exec::CancelToken token;
  EXPECT_EQ(lazy.Run(spec, token).kind, exec::OutcomeKind::kSucceeded);
  EXPECT_EQ(lazy.Run(spec, token).kind, exec::OutcomeKind::kSucceeded);
  EXPECT_EQ(probes, 1);
  EXPECT_THAT(inner.started(), SizeIs(2));
}

// ---- Concurrency policy ----------------------------------------------------------------

messages::TaskMessage WithPolicy(messages::TaskMessage t, const std::string& policy,
                                 const std::string& job = "backup") {
  t.concurrency = policy;
  t.job = job;
  t.max_attempts = 3;
  t.retry.retry_on = {"failed", "timed_out", "cancelled", "skipped"};
  return t;
}

TEST_F(WorkerTest, ForbidSkipsANewRunWhileARunOfTheSameJobIsRunning) {
  MakeWorker(/*slots=*/3);
  Add(WithPolicy(Task("r1"), "forbid"));
  Add(WithPolicy(Task("r2"), "forbid"));
  Add(WithPolicy(Task("other"), "forbid", "report"));
  for (int i = 0; i < 3; ++i) Step();
  ASSERT_TRUE(executor_.WaitBlocked("r1"));
  ASSERT_TRUE(executor_.WaitBlocked("other")) << "another job is not affected";
  ASSERT_TRUE(StepUntil([&] { return Results().size() == 1; }));
  messages::ResultMessage skipped = Results()[0];
  EXPECT_EQ(skipped.run_id, "r2");
  EXPECT_EQ(skipped.outcome, Outcome::kSkipped);
  EXPECT_THAT(skipped.error, HasSubstr("run r1 of job backup is still running"));
  EXPECT_FALSE(skipped.exit_code.has_value());
  EXPECT_THAT(RetryTasks(), IsEmpty()) << "a skipped run is not retried";
  EXPECT_THAT(DeadLetters(), IsEmpty());
  EXPECT_LE(Committed(), 0) << "r1 (offset 0) is still running";
  EXPECT_THAT(Metrics(), HasSubstr("krond_worker_runs_finished_total{cluster=\"alpha\","
                                   "queue=\"main\",outcome=\"skipped\"} 1\n"));

  Finish("r1", FakeExecutor::Succeeded());
  Finish("other", FakeExecutor::Succeeded());
  Step();
  EXPECT_EQ(Committed(), 3);
  // Once r1 is over, the next run of the job runs.
  Add(WithPolicy(Task("r3"), "forbid"));
  ASSERT_TRUE(StepUntil([&] { return executor_.started().size() == 3; }));
  Finish("r3", FakeExecutor::Succeeded());
  EXPECT_THAT(executor_.started(), UnorderedElementsAre("r1", "other", "r3"));
}

TEST_F(WorkerTest, ForbidHoldsForRunsThatWaitedForASlotTogether) {
  // Two runs of a forbid job arrive while both slots are busy with other jobs: neither is
  // running when it is taken, so the policy is applied again when the slots free.
  consumer_.SetPrefetch(10);
  max_held_ = 4;
  MakeWorker(/*slots=*/2);
  Add(WithPolicy(Task("busy-a"), "allow", "report"));
  Add(WithPolicy(Task("busy-b"), "allow", "report"));
  Add(WithPolicy(Task("r1"), "forbid"));
  Add(WithPolicy(Task("r2"), "forbid"));
  for (int i = 0; i < 4; ++i) Step();
  ASSERT_TRUE(executor_.WaitBlocked("busy-a"));
  ASSERT_TRUE(executor_.WaitBlocked("busy-b"));
  executor_.Release("busy-a", FakeExecutor::Succeeded());
  executor_.Release("busy-b", FakeExecutor::Succeeded());
  ASSERT_TRUE(executor_.WaitReturned(2));
  ASSERT_TRUE(StepUntil([&] { return Results().size() == 3; }));
  EXPECT_EQ(Results()[2].run_id, "r2");
  EXPECT_EQ(Results()[2].outcome, Outcome::kSkipped);
  // The two slot threads start busy-a and busy-b in either order; r1 only once they ended.
  // r1 is handed to a slot thread, which may not have started it yet when r2's result is in.
  ASSERT_TRUE(executor_.WaitBlocked("r1"));
  const std::vector<std::string> started = executor_.started();
  ASSERT_THAT(started, SizeIs(3));
  EXPECT_THAT(std::vector(started.begin(), started.begin() + 2),
              UnorderedElementsAre("busy-a", "busy-b"));
  EXPECT_EQ(started[2], "r1");
  Finish("r1", FakeExecutor::Succeeded());
  Step();
  EXPECT_EQ(Committed(), 4);
}

TEST_F(WorkerTest, AllowRunsOverlappingRunsOfTheSameJob) {
  MakeWorker(/*slots=*/2);
  Add(WithPolicy(Task("r1"), "allow"));
  Add(WithPolicy(Task("r2"), "allow"));
  Step();
  Step();
  EXPECT_TRUE(executor_.WaitBlocked("r1"));
  EXPECT_TRUE(executor_.WaitBlocked("r2"));
  Finish("r1", FakeExecutor::Succeeded());
  Finish("r2", FakeExecutor::Succeeded());
}

TEST_F(WorkerTest, ReplaceCancelsTheRunningRunAndStartsTheNewOneInItsSlot) {
  // Both fetched before the pause took effect, so "new" is handed over while the single
  // slot is busy (with the partition already paused it would be read only once a slot frees).
  consumer_.SetPrefetch(10);
  MakeWorker(/*slots=*/1);
  Add(WithPolicy(Task("old"), "replace"));
  Add(WithPolicy(Task("new"), "replace"));
  Step();
  ASSERT_TRUE(executor_.WaitBlocked("old"));
  // "new" cancels "old" and waits (parked) for the slot it frees.
  ASSERT_TRUE(StepUntil([&] { return executor_.started().size() == 2; }));
  EXPECT_THAT(executor_.started(), ElementsAre("old", "new"));
  EXPECT_THAT(executor_.returned(), ElementsAre("old"));
  ASSERT_TRUE(StepUntil([&] { return Results().size() == 1; }));
  messages::ResultMessage replaced = Results()[0];
  EXPECT_EQ(replaced.run_id, "old");
  EXPECT_EQ(replaced.outcome, Outcome::kCancelled);
  EXPECT_THAT(replaced.error, HasSubstr("replaced by run new"));
  EXPECT_THAT(RetryTasks(), IsEmpty()) << "a replaced run is superseded, not retried";
  EXPECT_THAT(DeadLetters(), IsEmpty());
  EXPECT_EQ(Committed(), 1);

  Finish("new", FakeExecutor::Succeeded());
  Step();
  EXPECT_EQ(Committed(), 2);
  ASSERT_THAT(Results(), SizeIs(2));
  EXPECT_EQ(Results()[1].outcome, Outcome::kSucceeded);
}

TEST_F(WorkerTest, ReplaceWithAFreeSlotStartsTheNewRunAtOnce) {
  MakeWorker(/*slots=*/2);
  Add(WithPolicy(Task("old"), "replace"));
  Step();
  ASSERT_TRUE(executor_.WaitBlocked("old"));
  Add(WithPolicy(Task("new"), "replace"));
  Step();
  ASSERT_TRUE(executor_.WaitBlocked("new"));
  ASSERT_TRUE(StepUntil([&] { return Results().size() == 1; }));
  EXPECT_EQ(Results()[0].outcome, Outcome::kCancelled);
  Finish("new", FakeExecutor::Succeeded());
  Step();
  EXPECT_EQ(Committed(), 2);
}

// ---- Load shedding ---------------------------------------------------------------------

// ---- starting_deadline -----------------------------------------------------------------

TEST_F(WorkerTest, FirstAttemptPastItsStartingDeadlineIsSkippedNotRun) {
  MakeWorker(/*slots=*/3);
  Add(WithPolicy(Task("running"), "replace"));
  Step();
  ASSERT_TRUE(executor_.WaitBlocked("running"));
  clock_.Set(kT0 + seconds(31));
  // Late and of the same job: skipped before the policy applies, so it replaces nothing.
  Add(WithDeadline(WithPolicy(Task("late"), "replace"), seconds(30)));
  messages::TaskMessage on_time = WithDeadline(Task("on-time"), seconds(30));
  on_time.job = "report";
  on_time.scheduled_at = kT0 + seconds(1);  // exactly 30 s late: still starts
  Add(on_time);
  messages::TaskMessage retry = WithDeadline(Task("retry", 2, 3), seconds(30));
  retry.job = "export";  // a retry is late by its backoff: the deadline is not its
  Add(retry);
  for (int i = 0; i < 3; ++i) Step();
  ASSERT_TRUE(executor_.WaitBlocked("on-time"));
  ASSERT_TRUE(executor_.WaitBlocked("retry"));
  ASSERT_TRUE(StepUntil([&] { return Results().size() == 1; }));
  const messages::ResultMessage skipped = Results()[0];
  EXPECT_EQ(skipped.run_id, "late");
  EXPECT_EQ(skipped.outcome, Outcome::kSkipped);
  EXPECT_EQ(skipped.error,
            "missed its starting_deadline of 30s: scheduled 2026-03-08T00:00:00.000Z, 31s late");
  EXPECT_THAT(executor_.started(), UnorderedElementsAre("running", "on-time", "retry"));
  EXPECT_THAT(executor_.returned(), IsEmpty()) << "the running run was not replaced";
  EXPECT_THAT(RetryTasks(), IsEmpty()) << "a skipped run is not retried";
  EXPECT_THAT(Metrics(),
              HasSubstr("krond_worker_runs_missed_deadline_total{cluster=\"alpha\"} 1\n"));
  EXPECT_THAT(Metrics(), HasSubstr("krond_worker_runs_finished_total{cluster=\"alpha\","
                                   "queue=\"main\",outcome=\"skipped\"} 1\n"));
  for (const char* id : {"running", "on-time", "retry"}) Finish(id, FakeExecutor::Succeeded());
  Step();
  EXPECT_EQ(Committed(), 4);
}

TEST_F(WorkerTest, HeldRunThatPassesItsDeadlineWhileWaitingForASlotIsSkipped) {
  consumer_.SetPrefetch(10);
  MakeWorker(/*slots=*/1);
  Add(Task("busy"));
  Add(WithDeadline(Task("waiting"), seconds(30)));
  Step();
  Step();
  ASSERT_TRUE(executor_.WaitBlocked("busy"));
  EXPECT_EQ(ReturnedCount("waiting"), 1u) << "held in memory behind the busy slot";
  EXPECT_THAT(Metrics(),
              HasSubstr("krond_worker_runs_missed_deadline_total{cluster=\"alpha\"} 0\n"))
      << "exported from the start, so the first miss shows in increase()";
  clock_.Set(kT0 + seconds(45));
  Finish("busy", FakeExecutor::Succeeded());
  ASSERT_TRUE(StepUntil([&] { return Results().size() == 2; }));
  EXPECT_EQ(Results()[1].run_id, "waiting");
  EXPECT_EQ(Results()[1].outcome, Outcome::kSkipped);
  EXPECT_THAT(Results()[1].error, HasSubstr("45s late"));
  EXPECT_THAT(executor_.started(), ElementsAre("busy"));
  Step();
  EXPECT_EQ(Committed(), 2);
}

TEST_F(WorkerTest, OverloadedWorkerTakesNoNewRunsUntilTheLoadDrops) {
  max_load_ = 0.8;
  load_ = 2.0;
  MakeWorker(/*slots=*/4);
  Add(Task("r1"));
  for (int i = 0; i < 5; ++i) Step();
  EXPECT_TRUE(worker_->overloaded());
  EXPECT_TRUE(consumer_.IsPaused(kTasks, 0));
  EXPECT_EQ(ReturnedCount("r1"), 0u) << "nothing fetched while overloaded";
  EXPECT_THAT(executor_.started(), IsEmpty());
  EXPECT_THAT(Metrics(), HasSubstr("krond_worker_overloaded 1\n"));

  // The load drops, but it is read at most once a second.
  load_ = 0.5;
  Step();
  EXPECT_TRUE(worker_->overloaded());
  clock_.Advance(seconds(1));
  Step();
  EXPECT_FALSE(worker_->overloaded());
  EXPECT_FALSE(consumer_.IsPaused(kTasks, 0));
  EXPECT_THAT(Metrics(), HasSubstr("krond_worker_overloaded 0\n"));
  ASSERT_TRUE(StepUntil([&] { return executor_.started().size() == 1; }));

  // Overload again while r1 runs: r1 goes on, r2 waits (parked, not lost).
  load_ = 3.0;
  clock_.Advance(seconds(1));
  Step();
  EXPECT_TRUE(worker_->overloaded());
  Add(Task("r2"));
  for (int i = 0; i < 5; ++i) Step();
  Finish("r1", FakeExecutor::Succeeded());
  EXPECT_THAT(executor_.started(), ElementsAre("r1"));
  EXPECT_TRUE(consumer_.IsPaused(kTasks, 0)) << "a freed slot does not override the overload";
  Step();  // serves r1's result delivery, then commits
  EXPECT_EQ(Committed(), 1);

  load_ = std::nullopt;  // unreadable: never blocks the worker
  clock_.Advance(seconds(1));
  ASSERT_TRUE(StepUntil([&] { return executor_.started().size() == 2; }));
  EXPECT_FALSE(worker_->overloaded());
  Finish("r2", FakeExecutor::Succeeded());
  Step();
  EXPECT_EQ(Committed(), 2);
}

TEST_F(WorkerTest, LoadIsIgnoredWhenMaxLoadIsOff) {
  load_ = 100.0;
  MakeWorker();
  Add(Task("r1"));
  executor_.SetDefaultOutcome(FakeExecutor::Succeeded());
  ASSERT_TRUE(StepUntil([&] { return worker_->completed() == 1; }));
  EXPECT_FALSE(worker_->overloaded());
}

// ---- Signed tasks (docs/security.md) ---------------------------------------------------

std::string Signed(const messages::TaskMessage& t, const signing::PrivateKey& key) {
  return *messages::SignTask(messages::Encode(t), key);
}

TEST_F(WorkerTest, WithTrustedKeysOnlyTasksSignedByThemRun) {
  const auto key = *signing::GenerateKey(), other = *signing::GenerateKey();
  trusted_keys_ = {key.public_key};
  MakeWorker();
  consumer_.Append(kTasks, 0, "plain", messages::Encode(Task("plain")));
  consumer_.Append(kTasks, 0, "forged", Signed(Task("forged"), other));
  messages::SignedTask tampered = *messages::ParseSignedTask(Signed(Task("tampered"), key));
  tampered.task.replace(tampered.task.find("echo tampered"), 13, "touch /tmp/pwn");
  consumer_.Append(kTasks, 0, "tampered", messages::EncodeSignedTask(tampered));
  consumer_.Append(kTasks, 0, "good", Signed(Task("good"), key));
  for (int i = 0; i < 4; ++i) Step();
  ASSERT_TRUE(executor_.WaitBlocked("good"));
  EXPECT_THAT(executor_.started(), ElementsAre("good")) << "a refused task never runs";

  std::vector<messages::ResultMessage> results = Results();
  ASSERT_THAT(results, SizeIs(3));
  for (const auto& r : results) EXPECT_EQ(r.outcome, Outcome::kInvalid) << r.run_id;
  EXPECT_THAT(results[0].error, HasSubstr("unsigned task"));
  EXPECT_THAT(results[1].error, HasSubstr("not among the trusted public keys"));
  EXPECT_THAT(results[2].error, HasSubstr("bad signature"));
  std::vector<messages::DeadLetter> dead = DeadLetters();
  ASSERT_THAT(dead, SizeIs(3));
  EXPECT_THAT(dead[2].reason, HasSubstr("bad signature"));
  const std::string metrics = Metrics();
  for (const char* reason : {"unsigned", "untrusted_key", "bad_signature"}) {
    EXPECT_THAT(metrics, HasSubstr(std::string("krond_worker_tasks_refused_total{cluster=\"alpha\","
                                               "reason=\"") +
                                   reason + "\"} 1\n"));
  }
  EXPECT_EQ(Committed(), 3);
}

TEST_F(WorkerTest, WithoutTrustedKeysPlainAndSignedTasksRun) {
  MakeWorker(/*slots=*/2);
  Add(Task("plain"));
  consumer_.Append(kTasks, 0, "signed", Signed(Task("signed"), *signing::GenerateKey()));
  Step();
  Step();
  ASSERT_TRUE(executor_.WaitBlocked("plain"));
  ASSERT_TRUE(executor_.WaitBlocked("signed"));
  EXPECT_THAT(executor_.started(), ElementsAre("plain", "signed"));
}

TEST_F(WorkerTest, RetryAndDeadLetterCarryTheOriginalSignedTaskUnchanged) {
  const auto key = *signing::GenerateKey();
  trusted_keys_ = {key.public_key};
  MakeWorker();
  const std::string original = Signed(Task("s1", /*attempt=*/1, /*max_attempts=*/2), key);
  consumer_.Append(kTasks, 0, "s1", original);
  clock_.Set(kT0 + seconds(10));
  executor_.Script("s1", FakeExecutor::Failed(3, "boom"));
  Step();
  ASSERT_TRUE(StepUntil([&] { return worker_->completed() == 1; }));
  for (int i = 0; i < 3; ++i) Step();
  ASSERT_THAT(producer_.Acked(kRetry), SizeIs(1));
  const std::string retry = producer_.Acked(kRetry)[0].value;
  // Verifies with the signer's key: the signed bytes are the original's.
  auto verified = messages::VerifyTask(retry, {key.public_key});
  ASSERT_TRUE(verified) << verified.error().message;
  EXPECT_EQ(verified->task, messages::ParseSignedTask(original)->task);
  EXPECT_EQ(verified->attempt, 2);
  auto opened = messages::OpenTask(retry, {key.public_key});
  ASSERT_TRUE(opened);
  EXPECT_EQ(opened->task.attempt, 2);
  EXPECT_EQ(opened->task.not_before, kT0 + seconds(12));
  EXPECT_EQ(opened->task.command, "echo s1");

  // The retry worker runs it (verifying it), it fails again: the dead letter keeps the
  // original envelope, without the retry's fields, for `krond dead replay`.
  worker_.reset();
  MakeWorker(1, messages::Queue::kRetry);
  consumer_.Append(kRetry, 0, "s1", retry);
  clock_.Set(kT0 + seconds(13));
  executor_.Script("s1", FakeExecutor::Failed(3, "boom"));
  Step();
  ASSERT_TRUE(StepUntil([&] { return worker_->completed() == 1; }));
  for (int i = 0; i < 3; ++i) Step();
  std::vector<messages::DeadLetter> dead = DeadLetters();
  ASSERT_THAT(dead, SizeIs(1));
  ASSERT_TRUE(dead[0].signed_task.has_value());
  EXPECT_EQ(*dead[0].signed_task, original);
  EXPECT_EQ(dead[0].task->attempt, 2);
}

TEST_F(WorkerTest, ForgedRetryOfASignedTaskIsRefused) {
  const auto key = *signing::GenerateKey();
  trusted_keys_ = {key.public_key};
  MakeWorker(1, messages::Queue::kRetry);
  // A compromised worker rewrites a retry: another command under the original signature,
  // or an attempt the task does not have.
  messages::SignedTask forged = *messages::ParseSignedTask(Signed(Task("f1", 1, 3), key));
  forged.attempt = 2;
  messages::SignedTask beyond = forged;
  forged.task.replace(forged.task.find("echo f1"), 7, "curl xx");
  beyond.attempt = 9;
  consumer_.Append(kRetry, 0, "f1", messages::EncodeSignedTask(forged));
  consumer_.Append(kRetry, 0, "f2", messages::EncodeSignedTask(beyond));
  Step();
  Step();
  EXPECT_THAT(executor_.started(), IsEmpty());
  std::vector<messages::ResultMessage> results = Results();
  ASSERT_THAT(results, SizeIs(2));
  EXPECT_THAT(results[0].error, HasSubstr("bad signature"));
  EXPECT_THAT(results[1].error, HasSubstr("attempt 9 outside 1..3"));
  EXPECT_THAT(DeadLetters(), SizeIs(2));
}

}  // namespace
}  // namespace krond::worker
