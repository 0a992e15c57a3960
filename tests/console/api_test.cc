#include "console/api.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "console/api_fixture.h"
#include "console/requests.h"
#include "messages/signed_task.h"

namespace krond::console {
namespace {

using testing::ApiFixture;

TEST_F(ApiFixture, WhoamiAndAuthErrors) {
  auto me = Call("GET", "/api/v1/whoami", "view");
  EXPECT_EQ(me.status, 200);
  EXPECT_EQ(me.body["name"], "vic");
  EXPECT_EQ(me.body["role"], "viewer");
  auto none = Call("GET", "/api/v1/jobs", "");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.body["error"], "missing Authorization: Bearer TOKEN");
  EXPECT_EQ(Call("GET", "/api/v1/jobs", "wrong").status, 401);
  AddJob("backup");
  auto forbidden = Call("POST", "/api/v1/jobs/backup/run", "view");
  EXPECT_EQ(forbidden.status, 403);
  EXPECT_TRUE(publisher_.sent.empty());
  EXPECT_NE(registry_.Render().find("krond_console_auth_failures_total{reason=\"forbidden\"} 1"),
            std::string::npos);
}

TEST_F(ApiFixture, WithoutATokenFileEveryoneIsAnAnonymousOperator) {
  options_.tokens = nullptr;
  api_ = std::make_unique<Api>(*store_, publisher_, events_, stats_, clock_,
                               messages::TopicNames("t"), metrics_, options_);
  http::Request r{.method = "GET", .path = "/api/v1/whoami"};
  auto body = nlohmann::json::parse(api_->Handle(r).body);
  EXPECT_EQ(body["name"], "anonymous");
  EXPECT_EQ(body["role"], "operator");
}

TEST_F(ApiFixture, RunNowProducesATaskLikeAScheduledOne) {
  AddJob("backup");
  auto reply = Call("POST", "/api/v1/jobs/backup/run");
  ASSERT_EQ(reply.status, 202) << reply.body;
  EXPECT_EQ(reply.body["trigger"], "manual");
  EXPECT_EQ(reply.body["requested_by"], "olga");
  ASSERT_EQ(publisher_.sent.size(), 1u);
  EXPECT_EQ(publisher_.sent[0].topic, "t.tasks.a");
  EXPECT_EQ(publisher_.sent[0].partition_key, "backup") << "routed by job, like scheduled runs";
  auto task = messages::DecodeTask(publisher_.sent[0].value);
  ASSERT_TRUE(task);
  EXPECT_EQ(publisher_.sent[0].key, task->run_id);
  EXPECT_EQ(task->run_id, reply.body["run_id"]);
  EXPECT_EQ(task->command, "echo backup");
  EXPECT_EQ(task->trigger, messages::Trigger::kManual);
  EXPECT_EQ(task->requested_by, "olga");
  EXPECT_EQ(task->scheduled_at, clock_.Now());
  EXPECT_EQ(task->starting_deadline, std::chrono::minutes(1));
}

TEST_F(ApiFixture, BadInputAndUnknownThings) {
  AddJob("backup");
  EXPECT_EQ(Call("POST", "/api/v1/jobs/nope/run").status, 404);
  EXPECT_EQ(Call("GET", "/api/v1/jobs/nope").status, 404);
  EXPECT_EQ(Call("GET", "/api/v1/runs/nope").status, 404);
  EXPECT_EQ(Call("POST", "/api/v1/dead/a/nope/replay").status, 404);
  EXPECT_EQ(Call("GET", "/api/v1/nothing").status, 404);
  EXPECT_EQ(Call("DELETE", "/api/v1/jobs").status, 405);
  auto malformed = Call("POST", "/api/v1/jobs/backup/pause", "op", "{reason:");
  EXPECT_EQ(malformed.status, 400);
  EXPECT_EQ(malformed.body["error"], "the body is not valid JSON");
  EXPECT_EQ(Call("POST", "/api/v1/jobs/BAD%/run").status, 400);
  EXPECT_EQ(Call("GET", "/api/v1/jobs", "op", "", {{"limit", "abc"}}).status, 400);
  EXPECT_EQ(Call("GET", "/api/v1/jobs", "op", "", {{"cursor", "zz"}}).status, 400);
  EXPECT_EQ(Call("GET", "/api/v1/jobs/backup/runs", "op", "", {{"before", "x"}}).status, 400);
  EXPECT_TRUE(publisher_.sent.empty());
}

TEST_F(ApiFixture, PauseAndResumeAreControlRecordsWithConflicts) {
  AddJob("backup");
  auto paused = Call("POST", "/api/v1/jobs/backup/pause", "op", R"({"reason":"db migration"})");
  ASSERT_EQ(paused.status, 200) << paused.body;
  ASSERT_EQ(publisher_.sent.size(), 1u);
  EXPECT_EQ(publisher_.sent[0].topic, "t.control");
  EXPECT_EQ(publisher_.sent[0].key, "backup");
  auto record = messages::DecodeControlRecord(publisher_.sent[0].value);
  ASSERT_TRUE(record);
  EXPECT_TRUE(record->paused);
  EXPECT_EQ(record->by, "olga");
  EXPECT_EQ(record->reason, "db migration");
  // Not yet read back from Kafka: resume is a conflict.
  EXPECT_EQ(Call("POST", "/api/v1/jobs/backup/resume").status, 409);
  ASSERT_TRUE(store_->Apply({store::ControlSeen{*record, {"t.control", 0, 0}}}));
  EXPECT_EQ(Call("POST", "/api/v1/jobs/backup/pause").status, 409);
  auto job = Call("GET", "/api/v1/jobs/backup", "view");
  EXPECT_TRUE(job.body["paused"]);
  EXPECT_EQ(job.body["paused_by"], "olga");
  EXPECT_EQ(job.body["control"][0]["reason"], "db migration");
  EXPECT_EQ(Call("POST", "/api/v1/jobs/backup/resume").status, 200);
}

TEST_F(ApiFixture, BackfillIsOneRunPerInstantAndBounded) {
  AddJob("hourly", "0 * * * *");
  auto reply = Call("POST", "/api/v1/jobs/hourly/backfill", "op",
                    R"({"from":"2026-03-01T00:00:00Z","to":"2026-03-01T03:00:00Z"})");
  ASSERT_EQ(reply.status, 202) << reply.body;
  EXPECT_EQ(reply.body["count"], 4);
  ASSERT_EQ(publisher_.sent.size(), 4u);
  for (const Outgoing& sent : publisher_.sent) EXPECT_EQ(sent.partition_key, "hourly");
  auto first = messages::DecodeTask(publisher_.sent[0].value);
  EXPECT_EQ(FormatRfc3339Utc(first->scheduled_at), "2026-03-01T00:00:00.000Z");
  EXPECT_EQ(first->trigger, messages::Trigger::kBackfill);
  EXPECT_FALSE(first->starting_deadline) << "a backfill is not skipped as missed";
  auto too_many = Call("POST", "/api/v1/jobs/hourly/backfill", "op",
                       R"({"from":"2026-01-01T00:00:00Z","to":"2026-03-01T00:00:00Z"})");
  EXPECT_EQ(too_many.status, 400);
  EXPECT_NE(too_many.body["error"].get<std::string>().find("more than 1000"), std::string::npos);
  EXPECT_EQ(Call("POST", "/api/v1/jobs/hourly/backfill", "op",
                 R"({"from":"2026-03-01T00:10:00Z","to":"2026-03-01T00:20:00Z"})")
                .status,
            400);
  EXPECT_EQ(publisher_.sent.size(), 4u);
}

TEST_F(ApiFixture, KafkaDownIs503) {
  AddJob("backup");
  publisher_.fail = true;
  auto reply = Call("POST", "/api/v1/jobs/backup/run");
  EXPECT_EQ(reply.status, 503);
  EXPECT_NE(reply.body["error"].get<std::string>().find("Kafka unreachable"), std::string::npos);
}

TEST_F(ApiFixture, JobsListAndRunHistory) {
  AddJob("backup");
  AddJob("report");
  messages::ResultMessage r;
  r.run_id = "r1";
  r.job = "backup";
  r.cluster = "a";
  r.worker = "w:1";
  r.queue = "main";
  r.scheduled_at = clock_.Now() - std::chrono::minutes(5);
  r.started_at = r.scheduled_at + std::chrono::milliseconds(20);
  r.finished_at = r.started_at + std::chrono::seconds(2);
  r.exit_code = 0;
  r.output_tail = "<script>alert(1)</script>";
  ASSERT_TRUE(store_->Apply({store::ResultSeen{r, {"t.results", 0, 0}}}));

  auto list = Call("GET", "/api/v1/jobs", "view", "", {{"limit", "1"}});
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_EQ(list.body["total"], 2);
  ASSERT_EQ(list.body["jobs"].size(), 1u);
  const auto& job = list.body["jobs"][0];
  EXPECT_EQ(job["name"], "backup");
  EXPECT_EQ(job["description"], "every hour at minute 0, UTC");
  EXPECT_EQ(job["next"][0], "2026-03-08T13:00:00.000Z");
  EXPECT_EQ(job["last_run"]["outcome"], "succeeded");
  EXPECT_EQ(job["last_run"]["duration_ms"], 2000);
  EXPECT_EQ(job["success_rate"], 1.0);
  EXPECT_EQ(job["recent"].size(), 1u);
  auto next = Call("GET", "/api/v1/jobs", "view", "", {{"cursor", list.body["next_cursor"]}});
  EXPECT_EQ(next.body["jobs"][0]["name"], "report");
  EXPECT_TRUE(next.body["next_cursor"].is_null());

  auto runs = Call("GET", "/api/v1/jobs/backup/runs", "view");
  ASSERT_EQ(runs.status, 200);
  ASSERT_EQ(runs.body["runs"].size(), 1u);
  const auto& run = runs.body["runs"][0];
  EXPECT_EQ(run["status"], "succeeded");
  EXPECT_EQ(run["attempts"][0]["worker"], "w:1");
  EXPECT_EQ(run["attempts"][0]["output_tail"], "<script>alert(1)</script>");
  EXPECT_EQ(Call("GET", "/api/v1/runs/r1", "view").body["job"], "backup");
  auto series = Call("GET", "/api/v1/jobs/backup/series", "view");
  EXPECT_EQ(series.body["points"][0]["duration_ms"], 2000);
}

TEST_F(ApiFixture, ReplayOfADeadLetterOnceUnlessAskedAgain) {
  AddJob("backup");
  messages::DeadLetter d;
  d.task = messages::NewRun(Entry("backup").task, clock_.Now(), clock_.Now());
  d.task->attempt = 1;
  d.reason = "attempts exhausted (1/1)";
  d.last_result.run_id = d.task->run_id;
  d.last_result.outcome = messages::Outcome::kFailed;
  d.last_result.finished_at = clock_.Now();
  ASSERT_TRUE(store_->Apply({store::DeadSeen{d, messages::Encode(d), {"t.dead.a", 0, 3}}}));
  auto dead = Call("GET", "/api/v1/dead", "view", "", {{"cluster", "a"}});
  ASSERT_EQ(dead.body["dead"].size(), 1u);
  EXPECT_EQ(dead.body["dead"][0]["replayed"], false);
  auto replay = Call("POST", "/api/v1/dead/a/" + d.task->run_id + "/replay");
  ASSERT_EQ(replay.status, 202) << replay.body;
  ASSERT_EQ(publisher_.sent.size(), 2u);
  auto task = messages::DecodeTask(publisher_.sent[0].value);
  EXPECT_EQ(task->run_id, d.task->run_id);
  EXPECT_EQ(task->trigger, messages::Trigger::kReplay);
  EXPECT_EQ(publisher_.sent[0].partition_key, task->job);
  auto marker = messages::DecodeReplayMarker(publisher_.sent[1].value);
  ASSERT_TRUE(marker);
  EXPECT_EQ(marker->replay_of, "t.dead.a[0]@3");
  EXPECT_EQ(publisher_.sent[1].topic, "t.dead.a");
  ASSERT_TRUE(store_->Apply({store::ReplaySeen{*marker}}));
  EXPECT_EQ(Call("POST", "/api/v1/dead/a/" + d.task->run_id + "/replay").status, 409);
  EXPECT_EQ(
      Call("POST", "/api/v1/dead/a/" + d.task->run_id + "/replay", "op", "", {{"again", "true"}})
          .status,
      202);
}

TEST_F(ApiFixture, WithASigningKeyRunNowBackfillAndReplayAreSigned) {
  const signing::PrivateKey key = *signing::GenerateKey();
  options_.signer = messages::TaskSigner(key);
  AddJob("backup");
  ASSERT_EQ(Call("POST", "/api/v1/jobs/backup/run").status, 202);
  ASSERT_EQ(Call("POST", "/api/v1/jobs/backup/backfill", "op",
                 R"({"from":"2026-01-01T00:00:00Z","to":"2026-01-01T01:00:00Z"})")
                .status,
            202);
  messages::DeadLetter d;
  d.task = messages::NewRun(Entry("backup").task, clock_.Now(), clock_.Now());
  d.reason = "attempts exhausted (1/1)";
  d.last_result.run_id = d.task->run_id;
  d.last_result.outcome = messages::Outcome::kFailed;
  d.last_result.finished_at = clock_.Now();
  ASSERT_TRUE(store_->Apply({store::DeadSeen{d, messages::Encode(d), {"t.dead.a", 0, 3}}}));
  ASSERT_EQ(Call("POST", "/api/v1/dead/a/" + d.task->run_id + "/replay").status, 202);
  std::vector<messages::Trigger> triggers;
  for (const auto& sent : publisher_.sent) {
    if (sent.topic != "t.tasks.a") continue;
    auto opened = messages::OpenTask(sent.value, {key.public_key});
    ASSERT_TRUE(opened) << opened.error().message;
    EXPECT_EQ(sent.key, opened->task.run_id);
    triggers.push_back(opened->task.trigger);
  }
  EXPECT_THAT(triggers,
              ::testing::ElementsAre(messages::Trigger::kManual, messages::Trigger::kBackfill,
                                     messages::Trigger::kBackfill, messages::Trigger::kReplay));
}

TEST_F(ApiFixture, EventsStreamWhatIsPublished) {
  http::Request r{.method = "GET", .path = "/api/v1/events", .query = {{"access_token", "view"}}};
  http::Response stream = api().Handle(r);
  ASSERT_EQ(stream.status, 200);
  ASSERT_TRUE(stream.stream);
  events_.Publish({"result", R"({"run_id":"r1"})"});
  std::string received;
  ASSERT_TRUE(stream.stream([&](std::string_view chunk) {
    received += chunk;
    return true;
  }));
  EXPECT_EQ(received, "event: result\ndata: {\"run_id\":\"r1\"}\n\n");
  events_.Close();
  EXPECT_FALSE(stream.stream([](std::string_view) { return true; }));
}

TEST_F(ApiFixture, HealthCountsPausedJobsPerCluster) {
  AddJob("backup");
  ASSERT_TRUE(store_->Apply(
      {store::ControlSeen{{"backup", true, "olga", clock_.Now(), ""}, {"t.control", 0, 0}}}));
  auto health = Call("GET", "/api/v1/health", "view");
  ASSERT_EQ(health.status, 200) << health.body;
  EXPECT_EQ(health.body["clusters"][0]["cluster"], "a");
  EXPECT_EQ(health.body["clusters"][0]["paused_jobs"], 1);
}

TEST_F(ApiFixture, HealthSaysWhetherKafkaAnswers) {
  EXPECT_TRUE(Call("GET", "/api/v1/health", "view").body["kafka"].is_null());
  KafkaStatus kafka(std::chrono::seconds(30));
  options_.kafka = &kafka;
  api_.reset();  // made again with the options
  auto health = Call("GET", "/api/v1/health", "view");
  EXPECT_EQ(health.body["kafka"]["reachable"], true) << health.body;
  EXPECT_TRUE(health.body["kafka"]["last_error"].is_null());
  kafka.OnError("all brokers down", clock_.Now());
  health = Call("GET", "/api/v1/health", "view");
  EXPECT_EQ(health.body["kafka"]["reachable"], false) << health.body;
  EXPECT_EQ(health.body["kafka"]["last_error"], "all brokers down");
  EXPECT_EQ(health.body["kafka"]["last_error_at"], "2026-03-08T12:34:56.000Z");
  clock_.Advance(std::chrono::seconds(1));
  kafka.OnSuccess(clock_.Now());
  EXPECT_EQ(Call("GET", "/api/v1/health", "view").body["kafka"]["reachable"], true);
}

}  // namespace
}  // namespace krond::console
