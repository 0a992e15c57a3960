#include "scheduler/scheduler_service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <unordered_set>
#include <vector>

#include "fakes/fake_kafka.h"
#include "fakes/simulated_clock.h"
#include "messages/run_messages.h"
#include "metrics/registry.h"
#include "scheduler/test_jobs.h"

namespace krond::scheduler {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::SizeIs;

const SystemTime kT0 = test_support::Time("2026-03-08T00:00:00Z");

constexpr char kJobFile[] = R"(clusters: [alpha, beta]
jobs:
  - name: backup
    schedule: "*/10 * * * * *"
    cluster: alpha
    command: tar czf /tmp/x.tgz /etc
    timeout: 90s
    starting_deadline: 2m
    retry:
      max_attempts: 3
      backoff: 5s
      max_backoff: 1m
      multiplier: 3
      jitter: 0.1
      retry_on: [failed]
)";

class SchedulerServiceTest : public ::testing::Test {
 protected:
  SchedulerServiceTest() { spdlog::set_level(spdlog::level::warn); }

  SchedulerService& Service(std::string_view yaml = kJobFile) {
    service_ = std::make_unique<SchedulerService>(
        clock_, producer_, metrics_, messages::TopicNames("test"), test_support::MustParse(yaml));
    return *service_;
  }
  // Moves the clock to `t` and steps there, as the real loop does.
  SystemTime StepAt(SystemTime t) {
    clock_.Set(t);
    return service_->Step(t);
  }
  std::vector<messages::TaskMessage> Tasks(const std::string& topic) {
    std::vector<messages::TaskMessage> out;
    for (const auto& r : producer_.Acked(topic)) {
      auto task = messages::DecodeTask(r.value);
      EXPECT_TRUE(task.has_value()) << (task ? "" : task.error().message);
      if (!task) continue;
      EXPECT_EQ(r.key, task->run_id) << "messages are keyed by run id";
      out.push_back(*task);
    }
    return out;
  }
  std::string Metrics() const { return registry_.Render(); }

  krond::testing::SimulatedClock clock_{kT0};
  krond::testing::FakeProducer producer_;
  metrics::Registry registry_;
  SchedulerMetrics metrics_{registry_};
  std::unique_ptr<SchedulerService> service_;
};

TEST_F(SchedulerServiceTest, PublishesOneDocumentedTaskPerDueRun) {
  Service();
  EXPECT_EQ(StepAt(kT0), kT0 + seconds(10));
  EXPECT_THAT(producer_.Records(), IsEmpty());

  const SystemTime now = kT0 + seconds(10) + milliseconds(300);
  EXPECT_EQ(StepAt(now), kT0 + seconds(20));
  std::vector<messages::TaskMessage> tasks = Tasks("test.tasks.alpha");
  ASSERT_THAT(tasks, SizeIs(1));
  const messages::TaskMessage& t = tasks[0];
  EXPECT_THAT(t.run_id, SizeIs(36));
  EXPECT_EQ(t.job, "backup");
  EXPECT_EQ(t.cluster, "alpha");
  EXPECT_EQ(t.command, "tar czf /tmp/x.tgz /etc");
  EXPECT_EQ(t.scheduled_at, kT0 + seconds(10));
  EXPECT_EQ(t.produced_at, now);
  EXPECT_EQ(t.attempt, 1);
  EXPECT_EQ(t.max_attempts, 3);
  EXPECT_EQ(t.timeout, seconds(90));
  EXPECT_EQ(t.not_before, std::nullopt);
  EXPECT_EQ(t.starting_deadline, seconds(120));
  EXPECT_EQ(t.retry.backoff, seconds(5));
  EXPECT_EQ(t.retry.max_backoff, seconds(60));
  EXPECT_DOUBLE_EQ(t.retry.multiplier, 3.0);
  EXPECT_DOUBLE_EQ(t.retry.jitter, 0.1);
  EXPECT_THAT(t.retry.retry_on, ElementsAre("failed"));
  EXPECT_EQ(t.concurrency, "allow");
  EXPECT_EQ(t.sandbox, "none");
  EXPECT_FALSE(t.network);
  // Nothing anywhere else.
  EXPECT_THAT(producer_.Records(), SizeIs(1));
  EXPECT_EQ(service_->fired(), 1u);
}

TEST_F(SchedulerServiceTest, LateStepPublishesEveryMissedRunWithDistinctRunIds) {
  Service();
  StepAt(kT0 + seconds(35));
  std::vector<messages::TaskMessage> tasks = Tasks("test.tasks.alpha");
  ASSERT_THAT(tasks, SizeIs(3));
  std::set<std::string> ids;
  for (size_t i = 0; i < tasks.size(); ++i) {
    EXPECT_EQ(tasks[i].scheduled_at, kT0 + seconds(10 * (i + 1)));
    ids.insert(tasks[i].run_id);
  }
  EXPECT_THAT(ids, SizeIs(3));
  StepAt(kT0 + seconds(35));
  EXPECT_THAT(producer_.Records(), SizeIs(3));
}

TEST_F(SchedulerServiceTest, MetricsCountOnDeliveryOnly) {
  Service();
  producer_.HoldDeliveries(true);
  StepAt(kT0 + seconds(10) + milliseconds(200));
  EXPECT_THAT(producer_.Records(), SizeIs(1));
  EXPECT_EQ(service_->fired(), 0u);
  EXPECT_EQ(service_->pending(), 1u);
  EXPECT_THAT(Metrics(), HasSubstr("krond_scheduler_runs_fired_total{job=\"backup\","
                                   "cluster=\"alpha\"} 0\n"));
  EXPECT_THAT(Metrics(), HasSubstr("krond_scheduler_runs_pending 1\n"));
  EXPECT_THAT(Metrics(), HasSubstr("krond_scheduler_fire_lag_seconds_count{cluster=\"alpha\"} 0"));

  // Acknowledged 0.3 s later: the lag is measured to the acknowledgement (0.5 s).
  producer_.HoldDeliveries(false);
  StepAt(kT0 + seconds(10) + milliseconds(500));
  EXPECT_EQ(service_->fired(), 1u);
  EXPECT_EQ(service_->pending(), 0u);
  const std::string text = Metrics();
  EXPECT_THAT(text, HasSubstr("krond_scheduler_runs_fired_total{job=\"backup\","
                              "cluster=\"alpha\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("krond_scheduler_fire_lag_seconds_bucket{cluster=\"alpha\","
                              "le=\"0.25\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("krond_scheduler_fire_lag_seconds_bucket{cluster=\"alpha\","
                              "le=\"0.5\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("krond_scheduler_fire_lag_seconds_sum{cluster=\"alpha\"} 0.5\n"));
  EXPECT_THAT(text, HasSubstr("krond_scheduler_fire_lag_seconds_count{cluster=\"alpha\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("krond_scheduler_runs_pending 0\n"));
  EXPECT_THAT(text, HasSubstr("krond_scheduler_produce_errors_total 0\n"));
  EXPECT_THAT(text, HasSubstr("krond_scheduler_jobs 1\n"));
}

TEST_F(SchedulerServiceTest, FailedProduceIsRetriedUntilDelivered) {
  Service();
  producer_.FailNextProduces(2);
  const SystemTime due = kT0 + seconds(10);
  // A retry is waiting: wake up in 500 ms, not at the next fire.
  EXPECT_EQ(StepAt(due), due + milliseconds(500));
  EXPECT_THAT(producer_.Records(), IsEmpty());
  EXPECT_EQ(service_->pending(), 1u);
  EXPECT_THAT(Metrics(), HasSubstr("krond_scheduler_produce_errors_total 1\n"));
  // Not yet due: no new attempt.
  StepAt(due + milliseconds(499));
  EXPECT_EQ(producer_.produce_calls(), 1);
  StepAt(due + milliseconds(500));  // second attempt fails too
  EXPECT_EQ(producer_.produce_calls(), 2);
  StepAt(due + milliseconds(1000));
  EXPECT_EQ(producer_.produce_calls(), 3);
  std::vector<messages::TaskMessage> tasks = Tasks("test.tasks.alpha");
  ASSERT_THAT(tasks, SizeIs(1));
  EXPECT_EQ(tasks[0].scheduled_at, due);
  EXPECT_EQ(service_->pending(), 0u);
  EXPECT_EQ(service_->fired(), 1u);
  EXPECT_THAT(Metrics(), HasSubstr("krond_scheduler_produce_errors_total 2\n"));
  // Steady again: the next wake is the next fire.
  EXPECT_EQ(StepAt(due + milliseconds(1500)), kT0 + seconds(20));
  EXPECT_THAT(producer_.Records(), SizeIs(1));
}

TEST_F(SchedulerServiceTest, FailedDeliveryIsProducedAgainWithTheSameRunId) {
  Service();
  producer_.FailNextDeliveries(1);
  const SystemTime due = kT0 + seconds(10);
  EXPECT_EQ(StepAt(due), due + milliseconds(500));
  ASSERT_THAT(producer_.Records(), SizeIs(1));
  EXPECT_EQ(producer_.Records()[0].state, krond::testing::FakeProducer::State::kFailed);
  EXPECT_EQ(service_->fired(), 0u);
  EXPECT_THAT(Metrics(), HasSubstr("krond_scheduler_produce_errors_total 1\n"));

  StepAt(due + milliseconds(500));
  const auto records = producer_.Records();
  ASSERT_THAT(records, SizeIs(2));
  EXPECT_EQ(records[1].key, records[0].key);
  EXPECT_EQ(records[1].value, records[0].value);
  EXPECT_THAT(Tasks("test.tasks.alpha"), SizeIs(1));
  EXPECT_EQ(service_->fired(), 1u);
  // Never delivered twice, however long we go on.
  for (int i = 1; i <= 4; ++i) StepAt(due + milliseconds(500 + 100 * i));
  EXPECT_EQ(producer_.AckedCount("test.tasks.alpha"), 1u);
}

// Logs to a string while it lives, in place of the default logger.
class CapturedLog {
 public:
  CapturedLog() : previous_(spdlog::default_logger()) {
    auto logger = std::make_shared<spdlog::logger>(
        "captured", std::make_shared<spdlog::sinks::ostream_sink_st>(text_));
    logger->set_level(spdlog::level::warn);
    logger->set_pattern("%v");
    spdlog::set_default_logger(logger);
  }
  ~CapturedLog() { spdlog::set_default_logger(previous_); }
  std::vector<std::string> Lines() const {
    std::vector<std::string> lines;
    std::istringstream in(text_.str());
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
  }

 private:
  std::ostringstream text_;
  std::shared_ptr<spdlog::logger> previous_;
};

TEST_F(SchedulerServiceTest, PublishFailuresAreAllCountedButWarnedAtMostOncePerSecond) {
  // 100 runs due at once and a full local queue: every produce fails, again at each retry.
  config::JobFile file = test_support::Jobs({{"j", "* * * * * *"}});
  config::Job prototype = file.jobs.at(0);
  file.jobs.assign(100, prototype);
  for (size_t i = 0; i < file.jobs.size(); ++i) file.jobs[i].name = "j" + std::to_string(i);
  service_ = std::make_unique<SchedulerService>(clock_, producer_, metrics_,
                                                messages::TopicNames("test"), std::move(file));
  producer_.FailNextProduces(300);
  CapturedLog log;
  const SystemTime due = kT0 + seconds(1);
  StepAt(due);  // 100 failures
  EXPECT_THAT(Metrics(), HasSubstr("krond_scheduler_produce_errors_total 100\n"));
  ASSERT_THAT(log.Lines(), SizeIs(1));
  EXPECT_THAT(log.Lines()[0], HasSubstr("publish to test.tasks.alpha failed, will retry: fake: "
                                        "Local: Queue full (1 failure(s) since the last warning)"));
  // The retry 0.5 s later fails for all 100 again (the runs due at 00:00:02 are not due yet):
  // counted, not logged.
  StepAt(due + milliseconds(500));
  EXPECT_THAT(Metrics(), HasSubstr("krond_scheduler_produce_errors_total 200\n"));
  EXPECT_THAT(log.Lines(), SizeIs(1));
  // A second after the first warning, the runs due at 00:00:02 fail too: the first of them
  // is warned about, with the 199 failures since the last warning (99 + 100). Then the queue
  // has room again, and the retry delivers every run of both seconds, once.
  StepAt(due + milliseconds(1000));
  EXPECT_THAT(Metrics(), HasSubstr("krond_scheduler_produce_errors_total 300\n"));
  ASSERT_THAT(log.Lines(), SizeIs(2));
  EXPECT_THAT(log.Lines()[1], HasSubstr("(200 failure(s) since the last warning)"));
  EXPECT_EQ(service_->fired(), 200u);
  EXPECT_EQ(service_->pending(), 0u);
  EXPECT_EQ(producer_.AckedTotal(), 200u);
}

TEST_F(SchedulerServiceTest, StepWithoutJobsWakesInOneSecond) {
  Service("clusters: [alpha]\njobs: []\n");
  EXPECT_EQ(StepAt(kT0 + seconds(3)), kT0 + seconds(4));
  EXPECT_THAT(Metrics(), HasSubstr("krond_scheduler_next_fire_timestamp_seconds 0\n"));
}

TEST_F(SchedulerServiceTest, ReplaceMovesChangedJobsAndStopsRemovedOnes) {
  Service(R"(clusters: [alpha, beta]
jobs:
  - name: keep
    schedule: "*/10 * * * * *"
    cluster: alpha
    command: k
  - name: gone
    schedule: "*/10 * * * * *"
    cluster: alpha
    command: g
)");
  StepAt(kT0 + seconds(10));
  ASSERT_THAT(Tasks("test.tasks.alpha"), SizeIs(2));
  // At 00:00:15, "keep" moves to cluster beta (same schedule: keeps its 00:00:20 fire),
  // "gone" disappears and "new" fires every 5 s, strictly after now (00:00:20).
  clock_.Set(kT0 + seconds(15));
  service_->Replace(test_support::MustParse(R"(clusters: [alpha, beta]
jobs:
  - name: keep
    schedule: "*/10 * * * * *"
    cluster: beta
    command: k2
  - name: new
    schedule: "*/5 * * * * *"
    cluster: alpha
    command: n
)"),
                    kT0 + seconds(15));
  EXPECT_THAT(service_->jobs(), SizeIs(2));
  EXPECT_THAT(Metrics(), HasSubstr("krond_scheduler_jobs 2\n"));
  EXPECT_EQ(StepAt(kT0 + seconds(15)), kT0 + seconds(20));
  StepAt(kT0 + seconds(20));
  std::vector<messages::TaskMessage> alpha = Tasks("test.tasks.alpha");
  std::vector<messages::TaskMessage> beta = Tasks("test.tasks.beta");
  ASSERT_THAT(alpha, SizeIs(3));
  EXPECT_EQ(alpha[2].job, "new");
  EXPECT_EQ(alpha[2].command, "n");
  EXPECT_EQ(alpha[2].scheduled_at, kT0 + seconds(20));
  ASSERT_THAT(beta, SizeIs(1));
  EXPECT_EQ(beta[0].job, "keep");
  EXPECT_EQ(beta[0].command, "k2");
  EXPECT_EQ(beta[0].scheduled_at, kT0 + seconds(20));
  // Only the 00:00:10 runs of "keep" and "gone" precede it: "gone" fired no more.
  EXPECT_EQ(alpha[0].scheduled_at, kT0 + seconds(10));
  EXPECT_EQ(alpha[1].scheduled_at, kT0 + seconds(10));
}

// The end-to-end path (encode, produce, acknowledge, metrics) at scale; the 100,000-job case
// of the pure scheduler is in scheduler_test.cc.
TEST_F(SchedulerServiceTest, TwentyThousandJobsFireExactlyOncePerSecond) {
  constexpr size_t kJobs = 20'000;
  constexpr int kSeconds = 3;
  config::JobFile file = test_support::Jobs({{"j", "* * * * * *"}});
  config::Job prototype = file.jobs.at(0);
  file.jobs.assign(kJobs, prototype);
  for (size_t i = 0; i < kJobs; ++i) file.jobs[i].name = "j" + std::to_string(i);
  producer_.KeepValues(false);

  service_ = std::make_unique<SchedulerService>(clock_, producer_, metrics_,
                                                messages::TopicNames("test"), std::move(file));
  for (int sec = 1; sec <= kSeconds; ++sec) {
    EXPECT_EQ(StepAt(kT0 + seconds(sec)), kT0 + seconds(sec + 1));
    EXPECT_EQ(producer_.AckedTotal(), kJobs * static_cast<size_t>(sec));
  }
  EXPECT_EQ(service_->fired(), kJobs * kSeconds);
  const auto records = producer_.Records();
  std::unordered_set<std::string> ids;
  for (const auto& r : records) ids.insert(r.key);
  EXPECT_EQ(ids.size(), kJobs * kSeconds) << "one run id per run";
}

// Every run of a job goes to one partition (its name is the partition key), so one worker
// at a time owns a job (docs/messages.md, "Partitions"); the key stays the run id.
TEST_F(SchedulerServiceTest, EveryRunOfAJobGoesToThePartitionOfItsName) {
  Service(R"(clusters: [alpha]
jobs:
  - {name: backup, schedule: "* * * * * *", cluster: alpha, command: "true"}
  - {name: report, schedule: "* * * * * *", cluster: alpha, command: "true"}
  - {name: cleanup, schedule: "* * * * * *", cluster: alpha, command: "true"}
)");
  producer_.SetPartitions("test.tasks.alpha", 12);
  for (int i = 1; i <= 5; ++i) StepAt(kT0 + seconds(i));
  const auto records = producer_.Acked("test.tasks.alpha");
  ASSERT_THAT(records, SizeIs(15));
  std::map<std::string, std::set<int32_t>> partitions;
  for (const auto& r : records) {
    auto task = messages::DecodeTask(r.value);
    ASSERT_TRUE(task.has_value());
    EXPECT_EQ(r.partition_key, task->job);
    partitions[task->job].insert(r.partition);
  }
  for (const char* job : {"backup", "report", "cleanup"}) {
    EXPECT_THAT(partitions[job], ElementsAre(kafka::PartitionForKey(job, 12))) << job;
  }
}

}  // namespace
}  // namespace krond::scheduler
