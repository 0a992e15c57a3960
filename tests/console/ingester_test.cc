#include "console/ingester.h"

#include <gtest/gtest.h>

#include <set>

#include "console/api_fixture.h"
#include "fakes/fake_kafka.h"

namespace krond::console {
namespace {

class IngesterTest : public testing::ApiFixture {
 protected:
  IngesterTest() { consumer_.SetPrefetch(100); }
  Ingester& ingester() {
    if (!ingester_) {
      ingester_ = std::make_unique<Ingester>(consumer_, *store_, events_, stats_, metrics_, clock_,
                                             messages::TopicNames("t"), /*max_batch=*/50);
    }
    return *ingester_;
  }
  krond::testing::FakeConsumer consumer_;
  std::unique_ptr<Ingester> ingester_;
};

TEST_F(IngesterTest, SubscribesToEveryControlPlaneTopicOfThePrefix) {
  EXPECT_EQ(Ingester::TopicPattern(messages::TopicNames("krond.prod")),
            "^krond[.]prod[.](results|jobs|control|tasks[.].+|retry[.].+|dead[.].+)$");
}

TEST_F(IngesterTest, WritesWhatItReadsThenCommits) {
  ASSERT_TRUE(ingester().Start());
  consumer_.Assign(
      {{"t.jobs", 0}, {"t.tasks.a", 0}, {"t.results", 0}, {"t.control", 0}, {"t.state", 0}});
  auto entry = Entry("backup");
  consumer_.Append("t.jobs", 0, "backup", messages::Encode(entry));
  auto task =
      messages::NewRun(entry.task, clock_.Now(), clock_.Now(), messages::Trigger::kManual, "olga");
  consumer_.Append("t.tasks.a", 0, task.run_id, messages::Encode(task));
  messages::ResultMessage r;
  r.run_id = task.run_id;
  r.job = "backup";
  r.cluster = "a";
  r.worker = "w:1";
  r.scheduled_at = task.scheduled_at;
  r.started_at = r.scheduled_at + std::chrono::milliseconds(5);
  r.finished_at = r.started_at + std::chrono::milliseconds(5);
  r.trigger = messages::Trigger::kManual;
  consumer_.Append("t.results", 0, r.run_id, messages::Encode(r));
  consumer_.Append("t.results", 0, "bad", "not json");
  consumer_.Append(
      "t.control", 0, "backup",
      messages::Encode(messages::ControlRecord{"backup", true, "olga", clock_.Now(), "x"}));
  consumer_.Append("t.state", 0, "backup", "{}");  // not the console's: ignored
  auto sub = events_.Subscribe();

  EXPECT_EQ(ingester().Step(std::chrono::milliseconds(0)), 6u);
  auto run = store_->GetRun(task.run_id);
  ASSERT_TRUE(run && *run);
  EXPECT_EQ((*run)->trigger, "manual");
  EXPECT_EQ((*run)->requested_by, "olga");
  EXPECT_EQ((*run)->status, "succeeded");
  EXPECT_TRUE((*store_->GetJob("backup"))->paused);
  EXPECT_EQ(consumer_.Committed("t.results", 0), 2);
  EXPECT_EQ(consumer_.Committed("t.state", 0), 1);
  EXPECT_NE(registry_.Render().find("krond_console_ingest_errors_total{kind=\"result\"} 1"),
            std::string::npos);
  bool closed = false;
  auto events = sub->Next(std::chrono::milliseconds(0), closed);
  std::multiset<std::string> types;
  for (const auto& e : events) types.insert(e.type);
  EXPECT_EQ(types, (std::multiset<std::string>{"catalog", "control", "result"}));
  EXPECT_EQ(stats_.Health(clock_.Now()).at(0).attempts, 1);
}

TEST_F(IngesterTest, ACatalogTombstoneRemovesTheJob) {
  ASSERT_TRUE(ingester().Start());
  consumer_.Assign({{"t.jobs", 0}});
  consumer_.Append("t.jobs", 0, "backup", messages::Encode(Entry("backup")));
  consumer_.Append("t.jobs", 0, "backup", "");
  ingester().Step(std::chrono::milliseconds(0));
  auto job = store_->GetJob("backup");
  ASSERT_TRUE(job && *job);
  EXPECT_FALSE((*job)->in_catalog);
}

}  // namespace
}  // namespace krond::console
