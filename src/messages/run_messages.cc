#include "messages/run_messages.h"

#include <uuid/uuid.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>

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

}  // namespace

namespace internal {

Result<TaskMessage> TaskFromJson(const json& doc, bool job_fields_only) {
  FieldReader r(doc);
  TaskMessage m;
  m.run_id = r.String("run_id", !job_fields_only);
  m.job = r.String("job");
  m.cluster = r.String("cluster");
  m.command = r.String("command");
  m.scheduled_at = r.Time("scheduled_at", !job_fields_only);
  m.produced_at = r.Time("produced_at", false);
  if (r.Has("fence")) m.fence = r.Int("fence");
  m.attempt = static_cast<int>(r.Int("attempt", false, 1));
  m.max_attempts = static_cast<int>(r.Int("max_attempts", false, 1));
  m.timeout = std::chrono::milliseconds(r.Int("timeout_ms", false, m.timeout.count()));
  m.not_before = r.OptionalTime("not_before");
  if (r.Has("starting_deadline_ms")) {
    m.starting_deadline = std::chrono::milliseconds(r.Int("starting_deadline_ms"));
  }
  m.concurrency = r.Has("concurrency") ? r.String("concurrency") : m.concurrency;
  m.sandbox = r.Has("sandbox") ? r.String("sandbox") : m.sandbox;
  m.network = r.Bool("network", false);
  if (r.Has("replayed_from")) m.replayed_from = r.String("replayed_from");
  if (r.Has("trigger")) {
    auto trigger = ParseTrigger(r.String("trigger"));
    if (trigger) {
      m.trigger = *trigger;
    } else {
      r.Fail("trigger", trigger.error().message);
    }
  }
  m.requested_by = r.String("requested_by", false);
  r.Object("microvm", [&m](FieldReader& rv) {
    const int64_t memory = rv.Int("memory_mib", false, 0);
    const int64_t vcpus = rv.Int("vcpus", false, 0);
    for (auto [name, value] : {std::pair{"memory_mib", memory}, std::pair{"vcpus", vcpus}}) {
      if (value < 0 || value > UINT32_MAX) rv.Fail(name, "out of range");
    }
    m.microvm = TaskMessage::MicroVm{static_cast<uint32_t>(memory), static_cast<uint32_t>(vcpus)};
  });
  r.Object("retry", [&m](FieldReader& rr) {
    m.retry.backoff = std::chrono::milliseconds(rr.Int("backoff_ms", false, 2000));
    m.retry.max_backoff = std::chrono::milliseconds(rr.Int("max_backoff_ms", false, 300'000));
    m.retry.multiplier = rr.Double("multiplier", m.retry.multiplier);
    m.retry.jitter = rr.Double("jitter", m.retry.jitter);
    m.retry.retry_on = rr.Strings("retry_on", m.retry.retry_on);
  });
  if (!r.ok()) return MakeError(r.error());
  if (m.run_id.empty() && !job_fields_only) return MakeError("field \"run_id\": empty");
  if (m.attempt < 1 || m.max_attempts < 1 || m.attempt > m.max_attempts) {
    return MakeError(
        "fields \"attempt\"/\"max_attempts\": need 1 <= attempt <= max_attempts, got " +
        std::to_string(m.attempt) + "/" + std::to_string(m.max_attempts));
  }
  if (m.timeout.count() <= 0) return MakeError("field \"timeout_ms\": must be positive");
  if (m.fence && *m.fence < 1) return MakeError("field \"fence\": must be positive");
  if (m.starting_deadline && m.starting_deadline->count() <= 0) {
    return MakeError("field \"starting_deadline_ms\": must be positive");
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
  m.run_id = r.String("run_id");
  m.job = r.String("job", false);
  m.cluster = r.String("cluster", false);
  m.attempt = static_cast<int>(r.Int("attempt", false, 1));
  m.worker = r.String("worker", false);
  m.queue = r.String("queue", false);
  m.scheduled_at = r.Time("scheduled_at", false);
  m.started_at = r.Time("started_at", false);
  m.finished_at = r.Time("finished_at", false);
  if (auto code = r.OptionalInt("exit_code")) m.exit_code = static_cast<int>(*code);
  if (auto sig = r.OptionalInt("signal")) m.signal = static_cast<int>(*sig);
  std::string outcome = r.String("outcome");
  m.output_tail = r.String("output_tail", false);
  m.output_bytes = r.Int("output_bytes", false, 0);
  m.error = r.String("error", false);
  m.source = r.String("source", false);
  m.requested_by = r.String("requested_by", false);
  const std::string trigger = r.String("trigger", false);
  r.Object("vm", [&m](FieldReader& rv) {
    m.vm = ResultMessage::Vm{rv.String("accelerator", false), rv.OptionalInt("boot_ms")};
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
  } else {
    j["raw"] = m.raw;
  }
  return j.dump();
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
  m.replay_of = r.String("replay_of");
  m.run_id = r.String("run_id", false);
  m.replayed_at = r.Time("replayed_at", false);
  m.by = r.String("by", false);
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
  d.raw = r.String("raw", false);
  if (!r.ok()) return MakeError(r.error());
  if (r.Has("task")) {
    auto task = TaskFromJson(doc->at("task"), /*job_fields_only=*/false);
    if (!task) return MakeError("field \"task\": " + task.error().message);
    d.task = *task;
  }
  if (!r.Has("last_result") || !doc->at("last_result").is_object()) {
    return MakeError("field \"last_result\": missing");
  }
  auto last = ResultFromJson(doc->at("last_result"));
  if (!last) return MakeError("field \"last_result\": " + last.error().message);
  d.last_result = *last;
  return d;
}

std::string SanitizeUtf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  size_t i = 0;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  while (i < bytes.size()) {
    unsigned char c = p[i];
    size_t len = c < 0x80           ? 1
                 : (c >> 5) == 0x6  ? 2
                 : (c >> 4) == 0xE  ? 3
                 : (c >> 3) == 0x1E ? 4
                                    : 0;
    bool valid = len > 0 && i + len <= bytes.size();
    for (size_t k = 1; valid && k < len; ++k) valid = (p[i + k] & 0xC0) == 0x80;
    if (valid && len == 2) valid = c >= 0xC2;  // no overlong forms
    if (valid && len == 3) {
      uint32_t cp = ((c & 0x0Fu) << 12) | ((p[i + 1] & 0x3Fu) << 6) | (p[i + 2] & 0x3Fu);
      valid = cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF);
    }
    if (valid && len == 4) {
      uint32_t cp = ((c & 0x07u) << 18) | ((p[i + 1] & 0x3Fu) << 12) | ((p[i + 2] & 0x3Fu) << 6) |
                    (p[i + 3] & 0x3Fu);
      valid = cp >= 0x10000 && cp <= 0x10FFFF;
    }
    if (valid) {
      out.append(bytes.substr(i, len));
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
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
