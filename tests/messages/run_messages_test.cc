#include "messages/run_messages.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "common/time_format.h"
#include "config/job_file.h"
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

TEST(TaskMessage, EnvRoundTripsAndIsLeftOutWhenEmpty) {
  TaskMessage t = SampleTask();
  t.env = {{"LANG", "C.UTF-8"}, {"PATH", "/opt/x/bin:/usr/bin"}, {"QUOTE", "a\"b\\c\n"}};
  const std::string json = Encode(t);
  EXPECT_EQ(nlohmann::json::parse(json)["env"],
            (nlohmann::json{
                {"LANG", "C.UTF-8"}, {"PATH", "/opt/x/bin:/usr/bin"}, {"QUOTE", "a\"b\\c\n"}}));
  auto back = DecodeTask(json);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->env, t.env);
  // An older scheduler's task has none, and a task without env: writes none, so older
  // workers see the same bytes as before.
  EXPECT_FALSE(nlohmann::json::parse(Encode(SampleTask())).contains("env"));
  auto old = DecodeTask(R"({"v":1,"run_id":"x","job":"j","cluster":"c","command":"true",
                            "scheduled_at":"2026-01-01T00:00:00Z"})");
  ASSERT_TRUE(old) << old.error().message;
  EXPECT_THAT(old->env, ::testing::IsEmpty());
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
  for (double v : {1.0, 2.5, 1.1, 1.0 + 1.0 / 3.0, 1.0 + 1e-7, 9.999999999}) {
    t.retry.multiplier = v;
    auto back = DecodeTask(Encode(t));
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(back->retry.multiplier, v);
  }
  for (double v : {0.0, 0.1, 1.0 / 3.0, 1e-7, 1.0}) {
    t.retry.jitter = v;
    auto back = DecodeTask(Encode(t));
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(back->retry.jitter, v);
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
            "field \"starting_deadline_ms\": 0 is out of range (1..316224000000)");
}

TEST(TaskMessage, IgnoresUnknownFieldsForForwardCompatibility) {
  auto t = DecodeTask(R"({"v":1,"run_id":"x","job":"j","cluster":"c","command":"true",
                          "scheduled_at":"2026-01-01T00:00:00Z","future_field":{"a":1}})");
  ASSERT_TRUE(t) << t.error().message;
  EXPECT_EQ(t->attempt, 1);
  EXPECT_FALSE(t->not_before.has_value());
}

// A valid task with one field replaced by `value` (raw JSON), or a retry field when the
// name starts with "retry.".
std::string TaskWith(const std::string& field, const std::string& value) {
  nlohmann::json doc = nlohmann::json::parse(Encode(SampleTask()));
  nlohmann::json parsed = nlohmann::json::parse(value);
  if (const size_t dot = field.find('.'); dot != std::string::npos) {
    doc[field.substr(0, dot)][field.substr(dot + 1)] = parsed;
  } else {
    doc[field] = parsed;
  }
  return doc.dump();
}

std::string DecodeError(const std::string& text) {
  auto decoded = DecodeTask(text);
  return decoded ? "(accepted)" : decoded.error().message;
}

// A hand-written task can neither replace the run's KROND_* variables nor set what a shell
// cannot export.
TEST(TaskMessage, RejectsABadEnv) {
  EXPECT_EQ(DecodeError(TaskWith("env", R"({"A":"1"})")), "(accepted)");
  EXPECT_EQ(DecodeError(TaskWith("env", R"({"KROND_RUN_ID":"forged"})")),
            "field \"env\": \"KROND_RUN_ID\" is reserved (the KROND_* variables are the run's "
            "own)");
  EXPECT_EQ(DecodeError(TaskWith("env", R"({"A=B":"1"})")),
            "field \"env\": \"A=B\" is not a valid variable name");
  EXPECT_EQ(DecodeError(TaskWith("env", R"({"A":1})")), "field \"env.A\": expected a string");
  EXPECT_EQ(DecodeError(TaskWith("env", R"(["A"])")), "field \"env\": expected an object");
  EXPECT_EQ(DecodeError(TaskWith("env", R"({"A":"x\u0000y"})")),
            "field \"env\": the value of \"A\" holds a NUL byte");
  const std::string big(kMaxEnvBytes, 'x');
  EXPECT_EQ(DecodeError(TaskWith("env", "{\"A\":\"" + big + "\"}")),
            "field \"env\": longer than 16384 bytes");
}

// Tasks come from a topic anyone with access can write: every number is checked before it
// is narrowed or used, and what krond would never write is `invalid`.
TEST(TaskMessage, RejectsFieldsOutOfRange) {
  ASSERT_TRUE(DecodeTask(TaskWith("attempt", "2")));
  struct Case {
    const char* field;
    std::string value;  // raw JSON
    std::string error;  // the whole message, or its start when it ends in "..."
  };
  const std::string too_long_id = "\"" + std::string(257, 'x') + "\"";
  const std::string too_long_command = "\"" + std::string(kMaxCommandBytes + 1, 'x') + "\"";
  const Case cases[] = {
      // 2^32 + 1 narrowed to int is 1: it must not pass as a first attempt.
      {"attempt", "4294967297", "field \"attempt\": 4294967297 is out of range (1..100)"},
      {"max_attempts", "-3", "field \"max_attempts\": -3 is out of range (1..100)"},
      {"attempt", "18446744073709551615", "field \"attempt\": expected an integer"},
      {"timeout_ms", "0", "field \"timeout_ms\": 0 is out of range (1..316224000000)"},
      {"timeout_ms", "9223372036854775807",
       "field \"timeout_ms\": 9223372036854775807 is out of range (1..316224000000)"},
      {"starting_deadline_ms", "-1",
       "field \"starting_deadline_ms\": -1 is out of range (1..316224000000)"},
      {"retry.max_backoff_ms", "-1",
       "field \"retry\": field \"max_backoff_ms\": -1 is out of range (0..316224000000)"},
      {"retry.max_backoff_ms", "500",
       "field \"retry\": field \"max_backoff_ms\": less than backoff_ms"},
      {"retry.multiplier", "0.5", "field \"retry\": field \"multiplier\": out of range..."},
      {"retry.multiplier", "1e308", "field \"retry\": field \"multiplier\": out of range..."},
      {"retry.jitter", "-0.1", "field \"retry\": field \"jitter\": out of range..."},
      {"retry.retry_on", R"(["failed","exploded"])",
       "field \"retry\": field \"retry_on\": unknown outcome"},
      {"concurrency", R"("sometimes")",
       "field \"concurrency\": \"sometimes\" is not allow, forbid or replace"},
      {"run_id", too_long_id, "field \"run_id\": longer than 256 bytes"},
      {"command", too_long_command, "field \"command\": longer than 65536 bytes"},
      // 2^32 + 512 narrowed to uint32_t is 512: a VM size krond never wrote must not pass.
      {"microvm.memory_mib", "4294967808",
       "field \"microvm\": field \"memory_mib\": 4294967808 is out of range (0..16384)"},
      {"microvm.memory_mib", "32", "field \"microvm\": field \"memory_mib\": 32 is under 64"},
      {"microvm.vcpus", "17", "field \"microvm\": field \"vcpus\": 17 is out of range (0..16)"},
  };
  for (const Case& c : cases) {
    const std::string error = DecodeError(TaskWith(c.field, c.value));
    if (c.error.ends_with("...")) {
      EXPECT_THAT(error, ::testing::StartsWith(c.error.substr(0, c.error.size() - 3))) << c.field;
    } else {
      EXPECT_EQ(error, c.error) << c.field << " = " << c.value.substr(0, 40);
    }
  }
  EXPECT_TRUE(DecodeTask(TaskWith("command", "\"" + std::string(kMaxCommandBytes, 'x') + "\"")));
}

// `krond validate` rejects a command over config::kMaxCommandBytes; with every other field
// of a job bounded too, any task the scheduler makes fits in one Kafka message.
static_assert(config::kMaxCommandBytes == kMaxCommandBytes);
static_assert(config::kMaxEnvBytes == kMaxEnvBytes);

TEST(TaskMessage, TheLargestValidJobFitsInAMessage) {
  TaskMessage t = SampleTask();
  t.command = std::string(config::kMaxCommandBytes, '\x01');  // six bytes each as JSON
  t.job = std::string(100, 'j');                              // names: at most 100
  t.cluster = std::string(100, 'c');
  t.replayed_from = std::string(kMaxNameBytes, 'r');
  t.retry.retry_on = {"failed", "timed_out"};
  // env: at its limit, in values of six bytes each too.
  t.env = {{"A", std::string(config::kMaxEnvBytes - 1, '\x01')}};
  const std::string text = Encode(t);
  EXPECT_LT(text.size() + t.run_id.size(), 1'000'000u / 2) << "librdkafka's default limit";
  EXPECT_TRUE(DecodeTask(text));
}

TEST(TaskMessage, DecodeErrorsAreBoundedEvenWhenTheyQuoteTheInput) {
  const std::string error =
      DecodeError(TaskWith("scheduled_at", "\"" + std::string(100'000, '7') + "\""));
  EXPECT_THAT(error, ::testing::StartsWith("field \"scheduled_at\": "));
  EXPECT_LE(error.size(), kMaxErrorBytes + 3);
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

TEST(ResultMessage, RejectsFieldsOutOfRange) {
  ResultMessage r;
  r.run_id = "id";
  const std::string good = Encode(r);
  ASSERT_TRUE(DecodeResult(good));
  auto with = [&](const char* field, const char* value) {
    nlohmann::json doc = nlohmann::json::parse(good);
    doc[field] = nlohmann::json::parse(value);
    auto decoded = DecodeResult(doc.dump());
    return decoded ? std::string("(accepted)") : decoded.error().message;
  };
  EXPECT_EQ(with("attempt", "4294967297"),
            "field \"attempt\": 4294967297 is out of range (1..100)");
  EXPECT_EQ(with("exit_code", "4294967296"),
            "field \"exit_code\": 4294967296 is out of range (0..255)");
  EXPECT_EQ(with("signal", "0"), "field \"signal\": 0 is out of range (1..64)");
  EXPECT_EQ(with("output_bytes", "-1"),
            "field \"output_bytes\": -1 is out of range (0..9223372036854775807)");
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
  raw.raw = CopyRaw("{broken");
  raw.last_result.run_id = "unknown";
  raw.last_result.outcome = Outcome::kInvalid;
  raw.reason = "not valid JSON";
  const std::string text = Encode(raw);
  EXPECT_NE(text.find(R"("raw_base64":"e2Jyb2tlbg==")"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("raw_bytes":7)"), std::string::npos) << text;
  auto raw_back = DecodeDeadLetter(text);
  ASSERT_TRUE(raw_back) << raw_back.error().message;
  EXPECT_FALSE(raw_back->task.has_value());
  EXPECT_EQ(raw_back->raw.bytes, "{broken");
  EXPECT_EQ(raw_back->raw.original_bytes, 7);
  EXPECT_FALSE(raw_back->raw.truncated());
}

TEST(DeadLetter, ReadsTheRawStringOfOlderDeadLetters) {
  auto old = DecodeDeadLetter(
      R"({"v":1,"reason":"invalid","raw":"{oops","last_result":{"run_id":"k","outcome":"invalid"}})");
  ASSERT_TRUE(old) << old.error().message;
  EXPECT_EQ(old->raw.bytes, "{oops");
  EXPECT_EQ(old->raw.original_bytes, 5);
}

TEST(DeadLetter, RawCopyKeepsAnyBytesAndTheOriginalLength) {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes += static_cast<char>(i);
  for (size_t length = 0; length <= bytes.size(); length += length < 8 ? 1 : 31) {
    DeadLetter d;
    d.last_result.run_id = "k";
    d.raw = CopyRaw(std::string_view(bytes).substr(0, length), 100);
    auto back = DecodeDeadLetter(Encode(d));
    ASSERT_TRUE(back) << back.error().message;
    EXPECT_EQ(back->raw.bytes, bytes.substr(0, std::min<size_t>(length, 100))) << length;
    EXPECT_EQ(back->raw.original_bytes, static_cast<int64_t>(length));
    EXPECT_EQ(back->raw.truncated(), length > 100);
  }
  for (const char* bad : {R"("abc")", R"("ab!=")", R"("=abc")", R"("a===")"}) {
    auto decoded = DecodeDeadLetter(
        std::string(R"({"v":1,"raw_bytes":3,"last_result":{"run_id":"k","outcome":"invalid"},)") +
        R"("raw_base64":)" + bad + "}");
    ASSERT_FALSE(decoded) << bad;
    EXPECT_EQ(decoded.error().message, "field \"raw_base64\": not base64");
  }
}

// The poison message of issue 19: ~340 KB of invalid UTF-8 grew about 3x as U+FFFD in its
// dead letter, over the 1,000,000-byte limit, and blocked its partition.
TEST(DeadLetter, APoisonMessageAlwaysFits) {
  const std::string garbage(340'000, '\xff');
  DeadLetter d;
  d.raw = CopyRaw(garbage);
  d.last_result.run_id = "unknown";
  d.last_result.outcome = Outcome::kInvalid;
  d.reason = "invalid message: not valid JSON";
  const std::string text = Encode(d);
  EXPECT_LT(text.size(), kMaxRawCopyBytes * 4 / 3 + 4096);
  auto back = DecodeDeadLetter(text);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->raw.original_bytes, 340'000);
  EXPECT_EQ(back->raw.bytes, garbage.substr(0, kMaxRawCopyBytes));
}

TEST(EncodeWithin, CutsAResultsOutputFromTheFrontToFit) {
  ResultMessage r;
  r.run_id = "id";
  r.job = "j";
  r.outcome = Outcome::kFailed;
  // Control bytes take six bytes each in JSON (\u0001): the worst case for the estimate.
  r.output_tail = std::string(2'000'000, '\x01') + "the end";
  r.output_bytes = 5'000'000;
  const std::string text = EncodeWithin(r, 100'000);
  EXPECT_LE(text.size(), 100'000u);
  EXPECT_GT(text.size(), 90'000u) << "keeps as much output as fits";
  auto back = DecodeResult(text);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_THAT(back->output_tail, ::testing::EndsWith("the end"));
  EXPECT_EQ(back->output_bytes, 5'000'000);
  r.output_tail = "small";
  EXPECT_EQ(EncodeWithin(r, 100'000), Encode(r)) << "what fits is unchanged";
  // A multi-byte character is never split.
  r.output_tail = std::string(300'000, 'x') + "\xC3\xA9" + std::string(99'000, 'y');
  auto utf8 = DecodeResult(EncodeWithin(r, kMinMessageBudget));
  ASSERT_TRUE(utf8) << utf8.error().message;
  EXPECT_EQ(SanitizeUtf8(utf8->output_tail), utf8->output_tail);
}

TEST(EncodeWithin, ShrinksADeadLetterUntilItFits) {
  DeadLetter d;
  d.task = SampleTask();
  d.task->command = std::string(kMaxCommandBytes, '\x02');  // 384 KiB as JSON
  d.last_result.run_id = d.task->run_id;
  d.last_result.outcome = Outcome::kFailed;
  d.last_result.output_tail = std::string(700'000, 'o');
  d.reason = "attempts exhausted (3/3)";
  // Room for the task: only the output goes.
  auto big = DecodeDeadLetter(EncodeWithin(d, 1'000'000));
  ASSERT_TRUE(big) << big.error().message;
  ASSERT_TRUE(big->task.has_value());
  EXPECT_EQ(big->task->command, d.task->command);
  EXPECT_TRUE(big->last_result.output_tail.empty());
  // No room for the task: a raw copy of its start stands for it.
  const std::string text = EncodeWithin(d, kMinMessageBudget);
  EXPECT_LE(text.size(), kMinMessageBudget);
  auto small = DecodeDeadLetter(text);
  ASSERT_TRUE(small) << small.error().message;
  EXPECT_FALSE(small->task.has_value());
  EXPECT_TRUE(small->raw.truncated());
  EXPECT_TRUE(small->raw.bytes.starts_with("{\"v\":1,\"run_id\":\"0b5f9c3e"));
  EXPECT_THAT(small->reason, ::testing::HasSubstr("task too large for a dead letter"));
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
  EXPECT_EQ(t.WorkerControlGroup("h:1"), "t1.worker-control.h:1");
  EXPECT_EQ(t.WorkerControlGroup("h:1").rfind(t.WorkerControlGroupPrefix(), 0), 0u);
}

}  // namespace
}  // namespace krond::messages
