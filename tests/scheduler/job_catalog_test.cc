#include "scheduler/job_catalog.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include "fakes/fake_kafka.h"
#include "fakes/simulated_clock.h"
#include "metrics/registry.h"
#include "scheduler/test_jobs.h"

namespace krond::scheduler {
namespace {

const SystemTime kT0 = test_support::Time("2026-03-08T12:00:00Z");

TEST(JobCatalogTest, AnEntryDescribesTheJobAndCarriesWhatARunNeeds) {
  auto file = test_support::MustParse(R"(
clusters: [alpha]
jobs:
  - name: backup
    schedule: "30 2 * * 1-5"
    timezone: America/New_York
    cluster: alpha
    command: pg_dump
    concurrency: forbid
    retry: {max_attempts: 3}
    env: {PGHOST: db1, LANG: C.UTF-8}
)");
  messages::CatalogEntry e = CatalogEntryOf(file.jobs[0], kT0, 3);
  EXPECT_EQ(e.description, "at 02:30, Monday to Friday, America/New_York");
  EXPECT_EQ(e.timezone, "America/New_York");
  EXPECT_EQ(e.catch_up, "last");
  ASSERT_EQ(e.next.size(), 3u);
  EXPECT_EQ(e.next[0], test_support::Time("2026-03-09T06:30:00Z"));  // Monday, EDT
  EXPECT_EQ(e.task.command, "pg_dump");
  EXPECT_EQ(e.task.max_attempts, 3);
  EXPECT_EQ(e.task.concurrency, "forbid");
  const std::vector<std::pair<std::string, std::string>> env = {{"LANG", "C.UTF-8"},
                                                                {"PGHOST", "db1"}};
  EXPECT_EQ(e.task.env, env);
  // As the console reads it back from the catalog topic for a run now or a backfill.
  Result<messages::CatalogEntry> read = messages::DecodeCatalogEntry(messages::Encode(e));
  ASSERT_TRUE(read) << read.error().message;
  EXPECT_EQ(read->task.env, env);
  // A manual run made from the entry is the scheduled run's twin.
  messages::TaskMessage scheduled = MakeTaskMessage(file.jobs[0], kT0, kT0);
  messages::TaskMessage manual = messages::NewRun(e.task, kT0, kT0, messages::Trigger::kManual);
  scheduled.run_id = manual.run_id;
  manual.trigger = messages::Trigger::kSchedule;
  EXPECT_EQ(messages::Encode(scheduled), messages::Encode(manual));
}

TEST(JobCatalogTest, RemovedJobs) {
  auto before = test_support::Jobs({{"a", "@daily"}, {"b", "@daily"}, {"c", "@daily"}});
  auto after = test_support::Jobs({{"c", "@daily"}, {"d", "@daily"}});
  EXPECT_EQ(RemovedJobs(before.jobs, after.jobs), (std::vector<std::string>{"a", "b"}));
}

TEST(JobCatalogTest, PublishesPacedThenTombstones) {
  spdlog::set_level(spdlog::level::warn);
  testing::SimulatedClock clock(kT0);
  testing::FakeProducer producer;
  producer.HoldDeliveries(true);
  metrics::Registry registry;
  SchedulerMetrics metrics(registry);
  CatalogPublisher catalog(producer, clock, "t.jobs", metrics, /*max_in_flight=*/2);
  auto file = test_support::Jobs({{"a", "@daily"}, {"b", "@daily"}, {"c", "@daily"}});
  catalog.Publish(&file.jobs, {"gone"});
  catalog.Poll();
  EXPECT_EQ(producer.Records().size(), 2u) << "at most max_in_flight unacknowledged";
  producer.HoldDeliveries(false);
  ASSERT_TRUE(catalog.Flush(std::chrono::seconds(1)));
  auto records = producer.Acked("t.jobs");
  ASSERT_EQ(records.size(), 4u);
  EXPECT_EQ(records[0].key, "a");
  EXPECT_TRUE(messages::DecodeCatalogEntry(records[2].value));
  EXPECT_EQ(records[3].key, "gone");
  EXPECT_TRUE(records[3].value.empty());
}

}  // namespace
}  // namespace krond::scheduler
