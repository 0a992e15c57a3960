#include "messages/run_messages.h"

#include <gtest/gtest.h>

#include <set>

#include "common/time_format.h"
#include "messages/topics.h"

namespace krond::messages {
namespace {

SystemTime At(const char* text) { return *ParseRfc3339(text); }

TaskMessage SampleTask() {
  TaskMessage t;
  t.run_id = "0b5f9c3e-1111-4222-8333-444455556666";
  t.job = "nightly-report";
  t.cluster = "cluster-a";
  t.command = "echo \"hi\" && date";
  t.scheduled_at = At("2026-03-08T07:00:00Z");
  t.produced_at = At("2026-03-08T07:00:00.004Z");
  t.attempt = 2;
  t.max_attempts = 3;
  t.timeout = std::chrono::seconds(30);
  t.not_before = At("2026-03-08T07:00:05.250Z");
  t.retry.backoff = std::chrono::seconds(1);
  t.retry.retry_on = {"failed"};
  t.concurrency = "forbid";
  return t;
}

TEST(TaskMessage, RoundTripsEveryField) {
  TaskMessage t = SampleTask();
  auto back = DecodeTask(Encode(t));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->run_id, t.run_id);
  EXPECT_EQ(back->command, t.command);
  EXPECT_EQ(back->scheduled_at, t.scheduled_at);
  EXPECT_EQ(back->produced_at, t.produced_at);
  EXPECT_EQ(back->attempt, 2);
  EXPECT_EQ(back->max_attempts, 3);
  EXPECT_EQ(back->timeout, std::chrono::seconds(30));
  EXPECT_EQ(back->not_before, t.not_before);
  EXPECT_EQ(back->retry.backoff, std::chrono::seconds(1));
  EXPECT_EQ(back->retry.retry_on, std::vector<std::string>{"failed"});
  EXPECT_EQ(back->concurrency, "forbid");
}

TEST(TaskMessage, WireFormatIsDocumentedShape) {
  std::string json = Encode(SampleTask());
  EXPECT_NE(json.find("\"v\":1"), std::string::npos);
  EXPECT_NE(json.find("\"scheduled_at\":\"2026-03-08T07:00:00.000Z\""), std::string::npos);
  EXPECT_NE(json.find("\"timeout_ms\":30000"), std::string::npos);
}

TEST(TaskMessage, DecodeErrorsNameTheField) {
  EXPECT_EQ(DecodeTask("not json").error().message, "not valid JSON");
  EXPECT_EQ(DecodeTask("[1]").error().message, "not a JSON object");
  EXPECT_EQ(DecodeTask("{}").error().message, "field \"v\": missing");
  EXPECT_EQ(DecodeTask(R"({"v":7})").error().message,
            "field \"v\": version 7 is not supported (max 1)");
  EXPECT_EQ(DecodeTask(R"({"v":1,"run_id":5})").error().message,
            "field \"run_id\": expected a string");
  EXPECT_EQ(DecodeTask(R"({"v":1,"run_id":"x","job":"j","cluster":"c","command":"true",
                          "scheduled_at":"yesterday"})")
                .error()
                .message,
            "field \"scheduled_at\": \"yesterday\" is not an RFC 3339 time (e.g. "
            "2026-03-08T03:00:00Z)");
  EXPECT_EQ(DecodeTask(R"({"v":1,"run_id":"x","job":"j","cluster":"c","command":"true",
                          "scheduled_at":"2026-01-01T00:00:00Z","attempt":4,"max_attempts":3})")
                .error()
                .message,
            "fields \"attempt\"/\"max_attempts\": need 1 <= attempt <= max_attempts, got 4/3");
}

TEST(TaskMessage, IgnoresUnknownFieldsForForwardCompatibility) {
  auto t = DecodeTask(R"({"v":1,"run_id":"x","job":"j","cluster":"c","command":"true",
                          "scheduled_at":"2026-01-01T00:00:00Z","future_field":{"a":1}})");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->attempt, 1);
  EXPECT_FALSE(t->not_before.has_value());
}

TEST(ResultMessage, RoundTrips) {
  ResultMessage r;
  r.run_id = "id";
  r.job = "j";
  r.cluster = "c";
  r.attempt = 3;
  r.worker = "host:42";
  r.queue = "retry";
  r.started_at = At("2026-03-08T07:00:00.010Z");
  r.finished_at = At("2026-03-08T07:00:01.010Z");
  r.outcome = Outcome::kTimedOut;
  r.signal = 9;
  r.output_tail = "tail";
  r.output_bytes = 1234;
  r.error = "timed out after 1s";
  auto back = DecodeResult(Encode(r));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->outcome, Outcome::kTimedOut);
  EXPECT_FALSE(back->exit_code.has_value());
  EXPECT_EQ(back->signal, 9);
  EXPECT_EQ(back->finished_at, r.finished_at);
  EXPECT_EQ(back->output_bytes, 1234);
  EXPECT_EQ(back->error, r.error);
}

TEST(DeadLetter, RoundTripsWithAndWithoutTask) {
  DeadLetter d;
  d.task = SampleTask();
  d.last_result.run_id = d.task->run_id;
  d.last_result.outcome = Outcome::kFailed;
  d.last_result.exit_code = 1;
  d.reason = "3 attempts failed";
  auto back = DecodeDeadLetter(Encode(d));
  ASSERT_TRUE(back) << back.error().message;
  ASSERT_TRUE(back->task.has_value());
  EXPECT_EQ(back->task->run_id, d.task->run_id);
  EXPECT_EQ(back->last_result.exit_code, 1);

  DeadLetter raw;
  raw.raw = "{broken";
  raw.last_result.run_id = "unknown";
  raw.last_result.outcome = Outcome::kInvalid;
  raw.reason = "not valid JSON";
  auto raw_back = DecodeDeadLetter(Encode(raw));
  ASSERT_TRUE(raw_back) << raw_back.error().message;
  EXPECT_FALSE(raw_back->task.has_value());
  EXPECT_EQ(raw_back->raw, "{broken");
}

TEST(Outcome, NamesRoundTrip) {
  for (Outcome o :
       {Outcome::kSucceeded, Outcome::kFailed, Outcome::kTimedOut, Outcome::kKilled,
        Outcome::kSpawnFailed, Outcome::kCancelled, Outcome::kInvalid, Outcome::kSkipped}) {
    EXPECT_EQ(*ParseOutcome(OutcomeName(o)), o);
  }
  EXPECT_FALSE(ParseOutcome("exploded"));
}

TEST(SanitizeUtf8, KeepsValidTextAndReplacesInvalidBytes) {
  EXPECT_EQ(SanitizeUtf8("hello\n"), "hello\n");
  EXPECT_EQ(SanitizeUtf8("caf\xC3\xA9"), "caf\xC3\xA9");
  EXPECT_EQ(SanitizeUtf8("a\xFF"
                         "b"),
            "a\xEF\xBF\xBD"
            "b");
  EXPECT_EQ(SanitizeUtf8("\xC3"), "\xEF\xBF\xBD");                  // truncated sequence
  EXPECT_EQ(SanitizeUtf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong
  EXPECT_EQ(SanitizeUtf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  // The result always encodes as JSON.
  ResultMessage r;
  r.run_id = "x";
  r.output_tail = SanitizeUtf8(std::string("\x00\x01\xFE\xFF", 4));
  EXPECT_TRUE(DecodeResult(Encode(r)));
}

TEST(NewRunId, IsAUniqueVersion4Uuid) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    std::string id = NewRunId();
    ASSERT_EQ(id.size(), 36u);
    EXPECT_EQ(id[14], '4');
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

TEST(TopicNames, DeriveFromPrefix) {
  TopicNames t("t1");
  EXPECT_EQ(t.Tasks("cluster-a"), "t1.tasks.cluster-a");
  EXPECT_EQ(t.Retry("cluster-a"), "t1.retry.cluster-a");
  EXPECT_EQ(t.Dead("cluster-a"), "t1.dead.cluster-a");
  EXPECT_EQ(t.Results(), "t1.results");
  EXPECT_EQ(t.ForQueue(Queue::kRetry, "b"), "t1.retry.b");
  EXPECT_EQ(t.WorkerGroup(Queue::kMain, "b"), "t1.workers.main.b");
}

}  // namespace
}  // namespace krond::messages
