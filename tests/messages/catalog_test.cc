#include "messages/catalog.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/time_format.h"

namespace krond::messages {
namespace {

SystemTime At(const char* text) { return *ParseRfc3339(text); }

CatalogEntry SampleEntry() {
  CatalogEntry e;
  e.job = "backup";
  e.cluster = "cluster-a";
  e.schedule = "30 2 * * 1-5";
  e.timezone = "America/New_York";
  e.description = "at 02:30, Monday to Friday, America/New_York";
  e.catch_up = "last";
  e.next = {At("2026-03-09T06:30:00Z"), At("2026-03-10T06:30:00Z")};
  e.published_at = At("2026-03-08T12:00:00Z");
  e.task.job = "backup";
  e.task.cluster = "cluster-a";
  e.task.command = "pg_dump db > /backup/db.sql";
  e.task.max_attempts = 3;
  e.task.starting_deadline = std::chrono::minutes(5);
  e.task.concurrency = "forbid";
  return e;
}

TEST(CatalogEntry, RoundTripsWithoutRunFields) {
  const CatalogEntry e = SampleEntry();
  const std::string text = Encode(e);
  const auto j = nlohmann::json::parse(text);
  EXPECT_FALSE(j["task"].contains("run_id"));
  EXPECT_FALSE(j["task"].contains("scheduled_at"));
  auto back = DecodeCatalogEntry(text);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->job, "backup");
  EXPECT_EQ(back->timezone, "America/New_York");
  EXPECT_EQ(back->description, e.description);
  EXPECT_EQ(back->next, e.next);
  EXPECT_EQ(back->task.command, e.task.command);
  EXPECT_EQ(back->task.max_attempts, 3);
  EXPECT_EQ(back->task.starting_deadline, std::chrono::minutes(5));
  EXPECT_EQ(back->task.concurrency, "forbid");
  EXPECT_TRUE(back->task.run_id.empty());
}

TEST(CatalogEntry, RejectsATaskOfAnotherJob) {
  auto j = nlohmann::json::parse(Encode(SampleEntry()));
  j["task"]["job"] = "other";
  auto back = DecodeCatalogEntry(j.dump());
  ASSERT_FALSE(back);
  EXPECT_NE(back.error().message.find("task"), std::string::npos);
}

TEST(CatalogEntry, NamesTheMissingField) {
  auto back = DecodeCatalogEntry(R"({"v":1,"job":"x","schedule":"* * * * *"})");
  ASSERT_FALSE(back);
  EXPECT_EQ(back.error().message, "field \"cluster\": missing");
}

TEST(ControlRecord, RoundTrips) {
  ControlRecord c{"backup", true, "alice", At("2026-03-08T12:00:00.250Z"), "db migration"};
  auto back = DecodeControlRecord(Encode(c));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->job, "backup");
  EXPECT_TRUE(back->paused);
  EXPECT_EQ(back->by, "alice");
  EXPECT_EQ(back->at, c.at);
  EXPECT_EQ(back->reason, "db migration");
}

TEST(ControlRecord, RequiresPausedAndJob) {
  EXPECT_FALSE(DecodeControlRecord(R"({"v":1,"job":"x"})"));
  EXPECT_FALSE(DecodeControlRecord(R"({"v":1,"job":"","paused":true})"));
  EXPECT_FALSE(DecodeControlRecord(R"({"v":2,"job":"x","paused":true})"));
  EXPECT_FALSE(DecodeControlRecord("not json"));
}

TEST(NewRun, SetsTheRunFieldsAndKeepsTheJobFields) {
  TaskMessage fields = SampleEntry().task;
  fields.attempt = 3;
  fields.not_before = At("2026-03-08T00:00:00Z");
  const SystemTime at = At("2026-03-08T07:00:00Z");
  const SystemTime now = At("2026-03-08T07:00:00.002Z");
  TaskMessage manual = NewRun(fields, at, now, Trigger::kManual, "alice");
  EXPECT_EQ(manual.run_id.size(), 36u);
  EXPECT_EQ(manual.attempt, 1);
  EXPECT_FALSE(manual.not_before);
  EXPECT_EQ(manual.scheduled_at, at);
  EXPECT_EQ(manual.produced_at, now);
  EXPECT_EQ(manual.trigger, Trigger::kManual);
  EXPECT_EQ(manual.requested_by, "alice");
  EXPECT_EQ(manual.starting_deadline, std::chrono::minutes(5));
  EXPECT_EQ(manual.command, fields.command);
  EXPECT_NE(NewRun(fields, at, now).run_id, manual.run_id);
  // An operator's backfill of a past instant must not be skipped as missed.
  EXPECT_FALSE(NewRun(fields, at, now, Trigger::kBackfill, "bob").starting_deadline);
}

TEST(ReplayRun, KeepsTheRunIdAndInstant) {
  DeadLetter letter;
  letter.task = NewRun(SampleEntry().task, At("2026-03-08T07:00:00Z"), At("2026-03-08T07:00:00Z"));
  letter.task->attempt = 3;
  letter.task->max_attempts = 3;
  const SystemTime now = At("2026-03-09T00:00:00Z");
  auto replay = ReplayRun(letter, "krond.dead.a[0]@7", now, "carol");
  ASSERT_TRUE(replay) << replay.error().message;
  EXPECT_EQ(replay->run_id, letter.task->run_id);
  EXPECT_EQ(replay->scheduled_at, letter.task->scheduled_at);
  EXPECT_EQ(replay->attempt, 1);
  EXPECT_EQ(replay->trigger, Trigger::kReplay);
  EXPECT_EQ(replay->requested_by, "carol");
  EXPECT_EQ(*replay->replayed_from, "krond.dead.a[0]@7 at 2026-03-09T00:00:00.000Z");
  EXPECT_FALSE(replay->starting_deadline);

  DeadLetter unreadable;
  unreadable.raw = CopyRaw("garbage");
  EXPECT_FALSE(ReplayRun(unreadable, "krond.dead.a[0]@8", now, "carol"));
}

TEST(ReplayMarker, RoundTripsAndIsToldFromADeadLetter) {
  ReplayMarker m{"krond.dead.a[0]@7", "run-1", At("2026-03-09T00:00:00Z"), "carol"};
  auto back = DecodeReplayMarker(Encode(m));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->replay_of, m.replay_of);
  EXPECT_EQ(back->by, "carol");
  DeadLetter d;
  d.raw = CopyRaw("x");
  d.last_result.run_id = "r";
  EXPECT_FALSE(DecodeReplayMarker(Encode(d)));
}

TEST(Trigger, OldMessagesDecodeAsScheduled) {
  auto task = DecodeTask(
      R"({"v":1,"run_id":"r","job":"j","cluster":"c","command":"true","scheduled_at":"2026-03-08T07:00:00Z"})");
  ASSERT_TRUE(task) << task.error().message;
  EXPECT_EQ(task->trigger, Trigger::kSchedule);
  EXPECT_TRUE(task->requested_by.empty());
  auto result = DecodeResult(R"({"v":1,"run_id":"r","outcome":"succeeded"})");
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result->trigger, Trigger::kSchedule);
}

TEST(Trigger, TravelsInTasksAndResults) {
  TaskMessage t = NewRun(SampleEntry().task, At("2026-03-08T07:00:00Z"), At("2026-03-08T07:00:00Z"),
                         Trigger::kBackfill, "bob");
  auto back = DecodeTask(Encode(t));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->trigger, Trigger::kBackfill);
  EXPECT_EQ(back->requested_by, "bob");
  ResultMessage r;
  r.run_id = "r";
  r.trigger = Trigger::kManual;
  r.requested_by = "alice";
  auto rback = DecodeResult(Encode(r));
  ASSERT_TRUE(rback) << rback.error().message;
  EXPECT_EQ(rback->trigger, Trigger::kManual);
  EXPECT_EQ(rback->requested_by, "alice");
  EXPECT_FALSE(DecodeTask(R"({"v":1,"run_id":"r","job":"j","cluster":"c","command":"true",
      "scheduled_at":"2026-03-08T07:00:00Z","trigger":"cosmic-ray"})"));
}

}  // namespace
}  // namespace krond::messages
