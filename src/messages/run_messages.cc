#include "messages/run_messages.h"

#include <uuid/uuid.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>

#include "common/env_name.h"
#include "common/time_format.h"
#include "messages/json_fields.h"
#include "messages/json_writer.h"
#include "messages/topics.h"

namespace krond::messages {
namespace {

using internal::FieldReader;
using internal::ParseObject;
using nlohmann::json;

constexpr std::string_view kOutcomeNames[] = {"succeeded", "failed",       "timed_out",
                                              "killed",    "spawn_failed", "cancelled",
                                              "invalid",   "skipped",      "boot_failed"};
constexpr std::string_view kTriggerNames[] = {"schedule", "manual", "backfill", "replay"};
constexpr std::string_view kConcurrencyPolicies[] = {"allow", "forbid", "replace"};
constexpr char kBase64Digits[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// RFC 4648 base64 with padding.
std::string Base64Encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t group = 0;
    for (size_t k = 0; k < 3; ++k) {
      group = (group << 8) | (k < n ? static_cast<unsigned char>(bytes[i + k]) : 0u);
    }
    for (size_t k = 0; k < 4; ++k) {
      out += k <= n ? kBase64Digits[(group >> (18 - 6 * k)) & 0x3F] : '=';
    }
  }
  return out;
}

// The inverse of Base64Encode; nullopt for anything it would not have written.
std::optional<std::string> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return std::nullopt;
  size_t padding = 0;
  while (padding < 2 && padding < text.size() && text[text.size() - 1 - padding] == '=') {
    ++padding;
  }
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    const size_t pad = i + 4 == text.size() ? padding : 0;
    uint32_t group = 0;
    for (size_t k = 0; k < 4; ++k) {
      uint32_t value = 0;
      if (k < 4 - pad) {
        const char c = text[i + k];
        const char* digit = c != '\0' ? std::strchr(kBase64Digits, c) : nullptr;
        if (digit == nullptr) return std::nullopt;
        value = static_cast<uint32_t>(digit - kBase64Digits);
      }
      group = (group << 6) | value;
    }
    for (size_t k = 0; k < 3 - pad; ++k) out += static_cast<char>((group >> (16 - 8 * k)) & 0xFF);
  }
  return out;
}

// Bytes `c` takes in a JSON string as nlohmann::json writes valid UTF-8.
size_t JsonCost(char c) {
  switch (c) {
    case '"':
    case '\\':
    case '\b':
    case '\f':
    case '\n':
    case '\r':
    case '\t':
      return 2;
    default:
      return static_cast<unsigned char>(c) < 0x20 ? 6 : 1;
  }
}

// The longest suffix of `text` of at most `max_bytes` that starts at a UTF-8 character.
std::string KeepUtf8Suffix(std::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes) return std::string(text);
  size_t start = text.size() - max_bytes;
  while (start < text.size() && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) ++start;
  return std::string(text.substr(start));
}

// A task's `env` (TaskMessage::env): checked like the job file checks it, so that a message
// written by hand can neither set a name a shell cannot export nor replace a KROND_*
// variable of the run.
std::vector<std::pair<std::string, std::string>> ReadEnv(FieldReader& r) {
  std::vector<std::pair<std::string, std::string>> env = r.StringPairs("env");
  size_t bytes = 0;
  for (const auto& [name, value] : env) {
    if (!r.ok()) break;
    bytes += name.size() + value.size();
    if (!IsValidEnvName(name)) {
      r.Fail("env", "\"" + name + "\" is not a valid variable name");
    } else if (IsReservedEnvName(name)) {
      r.Fail("env", "\"" + name + "\" is reserved (the KROND_* variables are the run's own)");
    } else if (value.find('\0') != std::string::npos) {
      r.Fail("env", "the value of \"" + name + "\" holds a NUL byte");
    }
  }
  if (r.ok() && bytes > kMaxEnvBytes) {
    r.Fail("env", "longer than " + std::to_string(kMaxEnvBytes) + " bytes");
  }
  return env;
}

}  // namespace

namespace internal {

Result<TaskMessage> TaskFromJson(const json& doc, bool job_fields_only) {
  FieldReader r(doc);
  TaskMessage m;
  m.run_id = r.Short("run_id", !job_fields_only);
  m.job = r.Short("job");
  m.cluster = r.Short("cluster");
  m.command = r.Short("command", true, kMaxCommandBytes);
  m.scheduled_at = r.Time("scheduled_at", !job_fields_only);
  m.produced_at = r.Time("produced_at", false);
  if (r.Has("fence")) m.fence = r.IntIn("fence", 1, INT64_MAX);
  m.attempt = static_cast<int>(r.IntIn("attempt", 1, kMaxAttempts, false, 1));
  m.max_attempts = static_cast<int>(r.IntIn("max_attempts", 1, kMaxAttempts, false, 1));
  m.timeout =
      std::chrono::milliseconds(r.IntIn("timeout_ms", 1, kMaxDurationMs, false, m.timeout.count()));
  m.not_before = r.OptionalTime("not_before");
  if (r.Has("starting_deadline_ms")) {
    m.starting_deadline =
        std::chrono::milliseconds(r.IntIn("starting_deadline_ms", 1, kMaxDurationMs));
  }
  if (r.Has("concurrency")) {
    m.concurrency = r.Short("concurrency");
    if (r.ok() && std::find(std::begin(kConcurrencyPolicies), std::end(kConcurrencyPolicies),
                            m.concurrency) == std::end(kConcurrencyPolicies)) {
      r.Fail("concurrency", "\"" + m.concurrency + "\" is not allow, forbid or replace");
    }
  }
  // Any name: a worker reports a sandbox it does not know as spawn_failed.
  m.sandbox = r.Has("sandbox") ? r.Short("sandbox") : m.sandbox;
  m.network = r.Bool("network", false);
  // Syntax only: the worker resolves it, and reports an unknown user as a refused run.
  if (r.Has("user")) m.user = r.Short("user");
  m.env = ReadEnv(r);
  if (r.Has("replayed_from")) m.replayed_from = r.Short("replayed_from");
  if (r.Has("trigger")) {
    auto trigger = ParseTrigger(r.Short("trigger"));
    if (trigger) {
      m.trigger = *trigger;
    } else if (r.ok()) {
      r.Fail("trigger", trigger.error().message);
    }
  }
  m.requested_by = r.Short("requested_by", false);
  r.Object("microvm", [&m](FieldReader& rv) {
    const auto memory = static_cast<uint32_t>(rv.IntIn("memory_mib", 0, kMaxVmMemoryMib, false, 0));
    const auto vcpus = static_cast<uint32_t>(rv.IntIn("vcpus", 0, kMaxVmVcpus, false, 0));
    if (memory != 0 && memory < kMinVmMemoryMib) {
      rv.Fail("memory_mib",
              std::to_string(memory) + " is under " + std::to_string(kMinVmMemoryMib));
    }
    m.microvm = TaskMessage::MicroVm{memory, vcpus};
  });
  r.Object("retry", [&m](FieldReader& rr) {
    m.retry.backoff =
        std::chrono::milliseconds(rr.IntIn("backoff_ms", 0, kMaxDurationMs, false, 2000));
    m.retry.max_backoff =
        std::chrono::milliseconds(rr.IntIn("max_backoff_ms", 0, kMaxDurationMs, false, 300'000));
    m.retry.multiplier =
        rr.Double("multiplier", m.retry.multiplier, kMinMultiplier, kMaxMultiplier);
    m.retry.jitter = rr.Double("jitter", m.retry.jitter, 0.0, kMaxJitter);
    m.retry.retry_on = rr.Strings("retry_on", m.retry.retry_on);
    if (rr.ok() && m.retry.max_backoff < m.retry.backoff) {
      rr.Fail("max_backoff_ms", "less than backoff_ms");
    }
    for (const std::string& name : m.retry.retry_on) {
      if (!rr.ok()) break;
      if (!ParseOutcome(name)) rr.Fail("retry_on", "unknown outcome");
    }
    if (rr.ok() && m.retry.retry_on.size() > std::size(kOutcomeNames)) {
      rr.Fail("retry_on", "more names than there are outcomes");
    }
  });
  if (!r.ok()) return MakeError(r.error());
  if (m.run_id.empty() && !job_fields_only) return MakeError("field \"run_id\": empty");
  if (m.attempt > m.max_attempts) {
    return MakeError(
        "fields \"attempt\"/\"max_attempts\": need 1 <= attempt <= max_attempts, got " +
        std::to_string(m.attempt) + "/" + std::to_string(m.max_attempts));
  }
  return m;
}

}  // namespace internal

namespace {

using internal::TaskFromJson;

json ResultToJson(const ResultMessage& m) {
  json j = {{"v", kVersion},
            {"run_id", m.run_id},
            {"job", m.job},
            {"cluster", m.cluster},
            {"attempt", m.attempt},
            {"worker", m.worker},
            {"queue", m.queue},
            {"scheduled_at", FormatRfc3339Utc(m.scheduled_at)},
            {"started_at", FormatRfc3339Utc(m.started_at)},
            {"finished_at", FormatRfc3339Utc(m.finished_at)},
            {"exit_code", m.exit_code ? json(*m.exit_code) : json(nullptr)},
            {"outcome", OutcomeName(m.outcome)},
            {"output_tail", m.output_tail},
            {"output_bytes", m.output_bytes}};
  if (m.signal) j["signal"] = *m.signal;
  if (!m.error.empty()) j["error"] = m.error;
  if (!m.source.empty()) j["source"] = m.source;
  j["trigger"] = TriggerName(m.trigger);
  if (!m.requested_by.empty()) j["requested_by"] = m.requested_by;
  if (m.vm) {
    j["vm"] = {{"accelerator", m.vm->accelerator}};
    if (m.vm->boot_ms) j["vm"]["boot_ms"] = *m.vm->boot_ms;
  }
  return j;
}

Result<ResultMessage> ResultFromJson(const json& doc) {
  FieldReader r(doc);
  ResultMessage m;
  m.run_id = r.Short("run_id");
  m.job = r.Short("job", false);
  m.cluster = r.Short("cluster", false);
  m.attempt = static_cast<int>(r.IntIn("attempt", 1, kMaxAttempts, false, 1));
  m.worker = r.Short("worker", false);
  m.queue = r.Short("queue", false);
  m.scheduled_at = r.Time("scheduled_at", false);
  m.started_at = r.Time("started_at", false);
  m.finished_at = r.Time("finished_at", false);
  if (r.Has("exit_code")) m.exit_code = static_cast<int>(r.IntIn("exit_code", 0, 255));
  if (r.Has("signal")) m.signal = static_cast<int>(r.IntIn("signal", 1, 64));
  std::string outcome = r.Short("outcome");
  m.output_tail = r.String("output_tail", false);
  m.output_bytes = r.IntIn("output_bytes", 0, INT64_MAX, false, 0);
  m.error = r.String("error", false);
  m.source = r.Short("source", false);
  m.requested_by = r.Short("requested_by", false);
  const std::string trigger = r.Short("trigger", false);
  r.Object("vm", [&m](FieldReader& rv) {
    m.vm = ResultMessage::Vm{rv.Short("accelerator", false), std::nullopt};
    if (rv.Has("boot_ms")) m.vm->boot_ms = rv.IntIn("boot_ms", 0, kMaxDurationMs);
  });
  if (!r.ok()) return MakeError(r.error());
  if (!trigger.empty()) {
    auto parsed_trigger = ParseTrigger(trigger);
    if (!parsed_trigger) return MakeError("field \"trigger\": " + parsed_trigger.error().message);
    m.trigger = *parsed_trigger;
  }
  auto parsed = ParseOutcome(outcome);
  if (!parsed) return MakeError("field \"outcome\": " + parsed.error().message);
  m.outcome = *parsed;
  return m;
}

}  // namespace

std::string_view QueueName(Queue q) { return q == Queue::kMain ? "main" : "retry"; }

std::string_view OutcomeName(Outcome o) { return kOutcomeNames[static_cast<int>(o)]; }

Result<Outcome> ParseOutcome(std::string_view name) {
  for (size_t i = 0; i < std::size(kOutcomeNames); ++i) {
    if (kOutcomeNames[i] == name) return static_cast<Outcome>(i);
  }
  return MakeError("unknown outcome \"" + std::string(name) + "\"");
}

std::string_view TriggerName(Trigger t) { return kTriggerNames[static_cast<int>(t)]; }

Result<Trigger> ParseTrigger(std::string_view name) {
  for (size_t i = 0; i < std::size(kTriggerNames); ++i) {
    if (kTriggerNames[i] == name) return static_cast<Trigger>(i);
  }
  return MakeError("unknown trigger \"" + std::string(name) +
                   "\" (expected schedule, manual, backfill or replay)");
}

std::string Encode(const TaskMessage& m) {
  // One per field, so a run of tasks sharing their instants formats each only once.
  thread_local TimeText scheduled_at, produced_at, not_before;
  std::string out;
  out.reserve(400 + m.job.size() + m.cluster.size() + m.command.size());
  ObjectWriter w(out);
  w.Int("v", kVersion);
  w.String("run_id", m.run_id);
  w.String("job", m.job);
  w.String("cluster", m.cluster);
  w.String("command", m.command);
  w.String("scheduled_at", scheduled_at.Format(m.scheduled_at));
  w.String("produced_at", produced_at.Format(m.produced_at));
  if (m.fence) w.Int("fence", *m.fence);
  w.Int("attempt", m.attempt);
  w.Int("max_attempts", m.max_attempts);
  w.Int("timeout_ms", m.timeout.count());
  if (m.not_before) w.String("not_before", not_before.Format(*m.not_before));
  if (m.starting_deadline) w.Int("starting_deadline_ms", m.starting_deadline->count());
  ObjectWriter retry = w.Object("retry");
  retry.Int("backoff_ms", m.retry.backoff.count());
  retry.Int("max_backoff_ms", m.retry.max_backoff.count());
  retry.Double("multiplier", m.retry.multiplier);
  retry.Double("jitter", m.retry.jitter);
  retry.Strings("retry_on", m.retry.retry_on);
  retry.End();
  w.String("concurrency", m.concurrency);
  w.String("sandbox", m.sandbox);
  w.Bool("network", m.network);
  if (!m.user.empty()) w.String("user", m.user);
  if (!m.env.empty()) {
    ObjectWriter env = w.Object("env");
    for (const auto& [name, value] : m.env) env.String(name, value);
    env.End();
  }
  if (m.microvm) {
    ObjectWriter vm = w.Object("microvm");
    vm.Int("memory_mib", m.microvm->memory_mib);
    vm.Int("vcpus", m.microvm->vcpus);
    vm.End();
  }
  if (m.replayed_from) w.String("replayed_from", *m.replayed_from);
  w.String("trigger", TriggerName(m.trigger));
  if (!m.requested_by.empty()) w.String("requested_by", m.requested_by);
  w.End();
  return out;
}

std::string Encode(const ResultMessage& m) { return ResultToJson(m).dump(); }

std::string Encode(const DeadLetter& m) {
  json j = {{"v", kVersion}, {"reason", m.reason}, {"last_result", ResultToJson(m.last_result)}};
  if (m.task) {
    // Parsed back so that tasks have one encoder; dead letters are rare.
    j["task"] = json::parse(Encode(*m.task));
    if (m.signed_task) j["signed_task"] = *m.signed_task;
  } else {
    j["raw_base64"] = Base64Encode(m.raw.bytes);
    j["raw_bytes"] = m.raw.original_bytes;
  }
  return j.dump();
}

RawCopy CopyRaw(std::string_view bytes, size_t max_bytes) {
  return RawCopy{std::string(bytes.substr(0, max_bytes)), static_cast<int64_t>(bytes.size())};
}

std::string EncodeWithin(const ResultMessage& m, size_t max_bytes) {
  std::string text = Encode(m);
  if (text.size() <= max_bytes) return text;
  ResultMessage cut = m;
  const std::string tail = SanitizeUtf8(m.output_tail);
  cut.output_tail.clear();
  if (cut.error.size() > kMaxErrorBytes)
    cut.error = TruncateUtf8(cut.error, kMaxErrorBytes) + "...";
  const size_t fixed = Encode(cut).size();
  // Keep the end of the output, as many bytes as their JSON form leaves room for.
  size_t budget = max_bytes > fixed ? max_bytes - fixed : 0;
  size_t start = tail.size();
  while (start > 0 && JsonCost(tail[start - 1]) <= budget) budget -= JsonCost(tail[--start]);
  cut.output_tail = KeepUtf8Suffix(tail, tail.size() - start);
  return Encode(cut);
}

std::string EncodeWithin(const DeadLetter& m, size_t max_bytes) {
  std::string text = Encode(m);
  if (text.size() <= max_bytes) return text;
  DeadLetter cut = m;
  // The result's output is in the results topic already; the task is what replays need.
  cut.last_result.output_tail.clear();
  if (cut.last_result.error.size() > kMaxErrorBytes) {
    cut.last_result.error = TruncateUtf8(cut.last_result.error, kMaxErrorBytes) + "...";
  }
  text = Encode(cut);
  if (text.size() <= max_bytes || !cut.task) return text;
  cut.raw = CopyRaw(Encode(*cut.task));
  cut.task.reset();
  cut.signed_task.reset();
  cut.reason += " (task too large for a dead letter: a copy of its first " +
                std::to_string(cut.raw.bytes.size()) + " bytes is kept)";
  return Encode(cut);
}

Result<TaskMessage> DecodeTask(std::string_view text) {
  auto doc = ParseObject(text);
  if (!doc) return tl::unexpected(doc.error());
  return TaskFromJson(*doc, /*job_fields_only=*/false);
}

std::string Encode(const ReplayMarker& m) {
  json j = {{"v", kVersion},
            {"replay_of", m.replay_of},
            {"run_id", m.run_id},
            {"replayed_at", FormatRfc3339Utc(m.replayed_at)}};
  if (!m.by.empty()) j["by"] = m.by;
  return j.dump();
}

Result<ReplayMarker> DecodeReplayMarker(std::string_view text) {
  auto doc = ParseObject(text);
  if (!doc) return tl::unexpected(doc.error());
  FieldReader r(*doc);
  if (!r.Has("replay_of")) return MakeError("not a replay marker");
  ReplayMarker m;
  m.replay_of = r.Short("replay_of");
  m.run_id = r.Short("run_id", false);
  m.replayed_at = r.Time("replayed_at", false);
  m.by = r.Short("by", false);
  if (!r.ok()) return MakeError(r.error());
  return m;
}

TaskMessage NewRun(TaskMessage job_fields, SystemTime scheduled_at, SystemTime now, Trigger trigger,
                   std::string requested_by) {
  TaskMessage t = std::move(job_fields);
  t.run_id = NewRunId();
  t.scheduled_at = scheduled_at;
  t.produced_at = now;
  t.attempt = 1;
  t.not_before.reset();
  t.replayed_from.reset();
  // A fence belongs to one scheduled fire of the transactional fire log; only a replay (the
  // same run again) keeps it.
  if (trigger != Trigger::kReplay) t.fence.reset();
  t.trigger = trigger;
  t.requested_by = std::move(requested_by);
  if (trigger == Trigger::kBackfill || trigger == Trigger::kReplay) t.starting_deadline.reset();
  return t;
}

Result<TaskMessage> ReplayRun(const DeadLetter& letter, std::string_view position, SystemTime now,
                              std::string requested_by) {
  if (!letter.task) {
    return MakeError(std::string(position) +
                     ": not replayable (the original message was unreadable)");
  }
  TaskMessage t = NewRun(*letter.task, letter.task->scheduled_at, now, Trigger::kReplay,
                         std::move(requested_by));
  t.run_id = letter.task->run_id;
  t.replayed_from = std::string(position) + " at " + FormatRfc3339Utc(now);
  return t;
}

Result<ResultMessage> DecodeResult(std::string_view text) {
  auto doc = ParseObject(text);
  if (!doc) return tl::unexpected(doc.error());
  return ResultFromJson(*doc);
}

Result<DeadLetter> DecodeDeadLetter(std::string_view text) {
  auto doc = ParseObject(text);
  if (!doc) return tl::unexpected(doc.error());
  DeadLetter d;
  FieldReader r(*doc);
  d.reason = r.String("reason", false);
  if (r.Has("raw_base64")) {
    const std::string encoded = r.String("raw_base64");
    d.raw.original_bytes = r.IntIn("raw_bytes", 0, INT64_MAX);
    if (r.ok()) {
      std::optional<std::string> bytes = Base64Decode(encoded);
      if (!bytes) return MakeError("field \"raw_base64\": not base64");
      d.raw.bytes = std::move(*bytes);
      if (static_cast<int64_t>(d.raw.bytes.size()) > d.raw.original_bytes) {
        return MakeError("field \"raw_bytes\": less than the bytes kept");
      }
    }
  } else {
    d.raw.bytes = r.String("raw", false);
    d.raw.original_bytes = static_cast<int64_t>(d.raw.bytes.size());
  }
  if (!r.ok()) return MakeError(r.error());
  if (r.Has("task")) {
    auto task = TaskFromJson(doc->at("task"), /*job_fields_only=*/false);
    if (!task) return MakeError("field \"task\": " + task.error().message);
    d.task = *task;
    if (r.Has("signed_task")) d.signed_task = r.String("signed_task");
    if (!r.ok()) return MakeError(r.error());
  }
  if (!r.Has("last_result") || !doc->at("last_result").is_object()) {
    return MakeError("field \"last_result\": missing");
  }
  auto last = ResultFromJson(doc->at("last_result"));
  if (!last) return MakeError("field \"last_result\": " + last.error().message);
  d.last_result = *last;
  return d;
}

std::string NewRunId() {
  // libuuid's uuid_generate_random makes a getrandom(2) call per id, which dominated the
  // scheduler's cost per fire. Run ids need uniqueness, not secrecy: 122 random bits from a
  // per-thread generator seeded once from the kernel make a collision as unlikely as with
  // libuuid, for a fraction of the cost.
  thread_local std::mt19937_64 rng = [] {
    uuid_t seed_bytes;
    uuid_generate_random(seed_bytes);
    std::seed_seq seq(std::begin(seed_bytes), std::end(seed_bytes));
    return std::mt19937_64(seq);
  }();
  uint64_t hi = rng();
  uint64_t lo = rng();
  hi = (hi & ~0xF000ull) | 0x4000ull;                         // version 4
  lo = (lo & 0x3FFFFFFFFFFFFFFFull) | 0x8000000000000000ull;  // RFC 4122 variant
  // 8-4-4-4-12 hex digits, written directly: snprintf's format parsing cost more than the
  // random numbers.
  constexpr char kHex[] = "0123456789abcdef";
  std::string text(36, '-');
  size_t pos = 0;
  for (int nibble = 0; nibble < 32; ++nibble, ++pos) {
    if (pos == 8 || pos == 13 || pos == 18 || pos == 23) ++pos;  // keep the dash
    const uint64_t half = nibble < 16 ? hi : lo;
    text[pos] = kHex[(half >> (60 - 4 * (nibble % 16))) & 0xF];
  }
  return text;
}

}  // namespace krond::messages
