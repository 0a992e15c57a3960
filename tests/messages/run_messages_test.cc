#include "messages/run_messages.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <nlohmann/json.hpp>
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
  t.fence = 4'000'000'017;
  t.attempt = 2;
  t.max_attempts = 3;
  t.timeout = std::chrono::seconds(30);
  t.not_before = At("2026-03-08T07:00:05.250Z");
  t.starting_deadline = std::chrono::minutes(10);
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
  EXPECT_EQ(back->fence, 4'000'000'017);
  EXPECT_EQ(back->attempt, 2);
  EXPECT_EQ(back->max_attempts, 3);
  EXPECT_EQ(back->timeout, std::chrono::seconds(30));
  EXPECT_EQ(back->not_before, t.not_before);
  EXPECT_EQ(back->starting_deadline, std::chrono::minutes(10));
  EXPECT_EQ(back->retry.backoff, std::chrono::seconds(1));
  EXPECT_EQ(back->retry.retry_on, std::vector<std::string>{"failed"});
  EXPECT_EQ(back->concurrency, "forbid");
  EXPECT_FALSE(back->microvm);
}

TEST(TaskMessage, MicroVmSizeRoundTripsAndIsValidated) {
  TaskMessage t = SampleTask();
  t.sandbox = "microvm";
  t.microvm = TaskMessage::MicroVm{512, 2};
  const std::string json = Encode(t);
  EXPECT_NE(json.find("\"microvm\":{\"memory_mib\":512,\"vcpus\":2}"), std::string::npos);
  auto back = DecodeTask(json);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->sandbox, "microvm");
  ASSERT_TRUE(back->microvm);
  EXPECT_EQ(back->microvm->memory_mib, 512u);
  EXPECT_EQ(back->microvm->vcpus, 2u);
  std::string bad = json;
  bad.replace(bad.find("512"), 3, "-12");
  EXPECT_FALSE(DecodeTask(bad));
  bad = json;
  bad.replace(bad.find("{\"memory_mib\""), 29, "7");
  EXPECT_FALSE(DecodeTask(bad));
}

TEST(TaskMessage, WireFormatIsDocumentedShape) {
  std::string json = Encode(SampleTask());
  EXPECT_NE(json.find("\"v\":1"), std::string::npos);
  EXPECT_NE(json.find("\"scheduled_at\":\"2026-03-08T07:00:00.000Z\""), std::string::npos);
  EXPECT_NE(json.find("\"timeout_ms\":30000"), std::string::npos);
}

// The task as docs/messages.md describes it, field by field: the encoder writes JSON by hand
// (for speed), so this pins its names, types and formats.
TEST(TaskMessage, EncodesEveryDocumentedFieldWithItsType) {
  TaskMessage t = SampleTask();
  t.replayed_from = "krond.dead.cluster-a[0]@12 at 2026-03-09T10:00:00.000Z";
  t.trigger = Trigger::kReplay;
  t.requested_by = "alice";
  const nlohmann::json expected = {
      {"v", 1},
      {"run_id", "0b5f9c3e-1111-4222-8333-444455556666"},
      {"job", "nightly-report"},
      {"cluster", "cluster-a"},
      {"command", "echo \"hi\" && date"},
      {"scheduled_at", "2026-03-08T07:00:00.000Z"},
      {"produced_at", "2026-03-08T07:00:00.004Z"},
      {"fence", 4'000'000'017},
      {"attempt", 2},
      {"max_attempts", 3},
      {"timeout_ms", 30000},
      {"not_before", "2026-03-08T07:00:05.250Z"},
      {"starting_deadline_ms", 600000},
      {"retry",
       {{"backoff_ms", 1000},
        {"max_backoff_ms", 300000},
        {"multiplier", 2.0},
        {"jitter", 0.2},
        {"retry_on", {"failed"}}}},
      {"concurrency", "forbid"},
      {"sandbox", "none"},
      {"network", false},
      {"replayed_from", "krond.dead.cluster-a[0]@12 at 2026-03-09T10:00:00.000Z"},
      {"trigger", "replay"},
      {"requested_by", "alice"}};
  const std::string text = Encode(t);
  EXPECT_EQ(nlohmann::json::parse(text), expected) << text;
  // Doubles stay floats for typed decoders, as in the documented example.
  EXPECT_NE(text.find("\"multiplier\":2.0"), std::string::npos) << text;
  EXPECT_EQ(text.find('\n'), std::string::npos) << "one line per message";
}

TEST(TaskMessage, OptionalFieldsAreLeftOutWhenUnset) {
  TaskMessage t = SampleTask();
  t.not_before.reset();
  t.starting_deadline.reset();
  t.fence.reset();
  const auto doc = nlohmann::json::parse(Encode(t));
  EXPECT_FALSE(doc.contains("not_before"));
  EXPECT_FALSE(doc.contains("fence"));
  EXPECT_FALSE(doc.contains("starting_deadline_ms"));
  auto back = DecodeTask(Encode(t));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_FALSE(back->starting_deadline.has_value());
  EXPECT_FALSE(back->fence.has_value()) << "a task of an older scheduler has no fence";
  EXPECT_FALSE(doc.contains("replayed_from"));
}

TEST(TaskMessage, RejectsAFenceBelowOne) {
  nlohmann::json doc = nlohmann::json::parse(Encode(SampleTask()));
  doc["fence"] = 0;
  auto back = DecodeTask(doc.dump());
  ASSERT_FALSE(back.has_value());
  EXPECT_THAT(back.error().message, ::testing::HasSubstr("fence"));
}

TEST(TaskMessage, EscapesStringsAndReplacesInvalidUtf8) {
  TaskMessage t = SampleTask();
  t.command = std::string("printf 'a\tb\\n' \"$X\"\n\x01\x1f caf\xC3\xA9 \xFF end");
  t.job = "";
  t.retry.retry_on = {};
  const std::string text = Encode(t);
  const auto doc = nlohmann::json::parse(text);  // valid JSON, or this throws
  EXPECT_EQ(doc["command"], "printf 'a\tb\\n' \"$X\"\n\x01\x1f caf\xC3\xA9 \xEF\xBF\xBD end");
  EXPECT_EQ(doc["job"], "");
  EXPECT_EQ(doc["retry"]["retry_on"], nlohmann::json::array());
  EXPECT_NE(text.find("\\u0001\\u001f"), std::string::npos) << text;
}

TEST(TaskMessage, WritesDoublesThatReadBackExactly) {
  TaskMessage t = SampleTask();
  for (double v : {0.0, 1.0, 2.5, 0.1, 1.0 / 3.0, 1e-7, 12345678.0, 1e300}) {
    t.retry.multiplier = v;
    auto back = DecodeTask(Encode(t));
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(back->retry.multiplier, v);
  }
  t.retry.jitter = std::numeric_limits<double>::quiet_NaN();
  EXPECT_TRUE(nlohmann::json::parse(Encode(t))["retry"]["jitter"].is_null());
}

TEST(TaskMessage, ConsecutiveTasksWithDifferentTimesEachGetTheirOwn) {
  // Encode remembers the last formatted instants; a change must not be missed.
  TaskMessage t = SampleTask();
  for (const char* at : {"2026-03-08T07:00:01Z", "2026-03-08T07:00:01Z", "2026-03-08T07:00:02Z",
                         "1970-01-01T00:00:00Z"}) {
    t.scheduled_at = At(at);
    t.produced_at = At(at) + std::chrono::milliseconds(3);
    auto back = DecodeTask(Encode(t));
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(back->scheduled_at, t.scheduled_at) << at;
    EXPECT_EQ(back->produced_at, t.produced_at) << at;
  }
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
  EXPECT_EQ(DecodeTask(R"({"v":1,"run_id":"x","job":"j","cluster":"c","command":"true",
                          "scheduled_at":"2026-01-01T00:00:00Z","starting_deadline_ms":0})")
                .error()
                .message,
            "field \"starting_deadline_ms\": must be positive");
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
  EXPECT_FALSE(back->vm);  // Results of unsandboxed runs (and of older workers) have none.
}

TEST(ResultMessage, VmFieldRoundTrips) {
  ResultMessage r;
  r.run_id = "id";
  r.outcome = Outcome::kBootFailed;
  r.vm = ResultMessage::Vm{"tcg", 1840};
  const std::string json = Encode(r);
  EXPECT_NE(json.find("\"vm\":{\"accelerator\":\"tcg\",\"boot_ms\":1840}"), std::string::npos);
  EXPECT_NE(json.find("\"outcome\":\"boot_failed\""), std::string::npos);
  auto back = DecodeResult(json);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->outcome, Outcome::kBootFailed);
  ASSERT_TRUE(back->vm);
  EXPECT_EQ(back->vm->accelerator, "tcg");
  EXPECT_EQ(back->vm->boot_ms, 1840);
  r.vm->boot_ms.reset();
  back = DecodeResult(Encode(r));
  ASSERT_TRUE(back && back->vm);
  EXPECT_FALSE(back->vm->boot_ms);
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
  for (Outcome o : {Outcome::kSucceeded, Outcome::kFailed, Outcome::kTimedOut, Outcome::kKilled,
                    Outcome::kSpawnFailed, Outcome::kCancelled, Outcome::kInvalid,
                    Outcome::kSkipped, Outcome::kBootFailed}) {
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
    ASSERT_THAT(id,
                ::testing::MatchesRegex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
                                        "[0-9a-f]{12}"));
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
