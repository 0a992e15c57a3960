#include "messages/scheduler_records.h"

#include <nlohmann/json.hpp>

#include "common/time_format.h"
#include "messages/json_writer.h"

namespace krond::messages {
namespace {

using nlohmann::json;

constexpr std::string_view kSkipReasonNames[] = {"catch_up", "starting_deadline", "catch_up_limit",
                                                 "rejected", "paused"};

// The object of a version-1 record, or why it is not one.
Result<json> ParseRecord(std::string_view text, std::string_view what) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return MakeError(std::string(what) + " is not a JSON object");
  auto v = j.find("v");
  if (v == j.end() || !v->is_number_integer() || v->get<int64_t>() != 1) {
    return MakeError(std::string(what) + " has no known version v");
  }
  return j;
}

Result<std::string> StringField(const json& j, const char* name) {
  auto it = j.find(name);
  if (it == j.end() || !it->is_string()) {
    return MakeError(std::string("field \"") + name + "\": expected a string");
  }
  return it->get<std::string>();
}

Result<SystemTime> TimeField(const json& j, const char* name) {
  auto text = StringField(j, name);
  if (!text) return tl::unexpected(text.error());
  auto t = ParseRfc3339(*text);
  if (!t) return MakeError(std::string("field \"") + name + "\": " + t.error().message);
  return *t;
}

Result<int64_t> IntField(const json& j, const char* name, int64_t fallback) {
  auto it = j.find(name);
  if (it == j.end()) return fallback;
  if (!it->is_number_integer()) {
    return MakeError(std::string("field \"") + name + "\": expected an integer");
  }
  return it->get<int64_t>();
}

tl::unexpected<Error> Bad(std::string_view record, const Error& error) {
  return MakeError(std::string(record) + " " + error.message);
}

}  // namespace

std::string Encode(const FireState& state) {
  thread_local TimeText last_fired;
  std::string out;
  out.reserve(80 + state.job.size());
  ObjectWriter w(out);
  w.Int("v", 1);
  w.String("job", state.job);
  w.String("last_fired", last_fired.Format(state.last_fired));
  w.Int("fence", state.fence);
  w.End();
  return out;
}

Result<FireState> DecodeFireState(std::string_view text) {
  auto j = ParseRecord(text, "state record");
  if (!j) return tl::unexpected(j.error());
  auto job = StringField(*j, "job");
  auto last = TimeField(*j, "last_fired");
  auto fence = IntField(*j, "fence", 0);
  if (!job) return Bad("state record", job.error());
  if (!last) return Bad("state record", last.error());
  if (!fence || *fence < 0) return MakeError("state record field \"fence\": not a count");
  return FireState{*job, *last, *fence};
}

std::string Encode(const LeaseRecord& lease) {
  std::string out;
  ObjectWriter w(out);
  w.Int("v", 1);
  w.String("owner", lease.owner);
  w.String("state", lease.resigned ? "resigned" : "active");
  w.String("at", FormatRfc3339Utc(lease.at));
  w.End();
  return out;
}

Result<LeaseRecord> DecodeLeaseRecord(std::string_view text) {
  auto j = ParseRecord(text, "lease record");
  if (!j) return tl::unexpected(j.error());
  auto owner = StringField(*j, "owner");
  auto state = StringField(*j, "state");
  auto at = TimeField(*j, "at");
  if (!owner) return Bad("lease record", owner.error());
  if (!state || (*state != "active" && *state != "resigned")) {
    return MakeError("lease record field \"state\": expected active or resigned");
  }
  if (!at) return Bad("lease record", at.error());
  return LeaseRecord{*owner, *state == "resigned", *at};
}

std::string_view SkipReasonName(SkipReason reason) {
  return kSkipReasonNames[static_cast<int>(reason)];
}

Result<SkipReason> ParseSkipReason(std::string_view name) {
  for (size_t i = 0; i < std::size(kSkipReasonNames); ++i) {
    if (kSkipReasonNames[i] == name) return static_cast<SkipReason>(i);
  }
  return MakeError("unknown skip reason \"" + std::string(name) + "\"");
}

std::string Encode(const SkipRecord& skip) {
  std::string out;
  ObjectWriter w(out);
  w.Int("v", 1);
  w.String("job", skip.job);
  w.String("reason", SkipReasonName(skip.reason));
  w.String("first", FormatRfc3339Utc(skip.first));
  w.String("last", FormatRfc3339Utc(skip.last));
  w.Int("count", skip.count);
  w.String("decided_at", FormatRfc3339Utc(skip.decided_at));
  if (!skip.detail.empty()) w.String("detail", skip.detail);
  w.End();
  return out;
}

Result<SkipRecord> DecodeSkipRecord(std::string_view text) {
  auto j = ParseRecord(text, "skip record");
  if (!j) return tl::unexpected(j.error());
  SkipRecord out;
  auto job = StringField(*j, "job");
  auto reason_name = StringField(*j, "reason");
  auto first = TimeField(*j, "first");
  auto last = TimeField(*j, "last");
  auto count = IntField(*j, "count", -1);
  auto decided = TimeField(*j, "decided_at");
  if (!job) return Bad("skip record", job.error());
  if (!reason_name) return Bad("skip record", reason_name.error());
  if (!first) return Bad("skip record", first.error());
  if (!last) return Bad("skip record", last.error());
  if (!count) return Bad("skip record", count.error());
  if (!decided) return Bad("skip record", decided.error());
  auto reason = ParseSkipReason(*reason_name);
  if (!reason) return MakeError("skip record field \"reason\": " + reason.error().message);
  if (*last < *first) return MakeError("skip record: last is before first");
  out.job = *job;
  out.reason = *reason;
  out.first = *first;
  out.last = *last;
  out.count = *count;
  out.decided_at = *decided;
  if (auto detail = StringField(*j, "detail")) out.detail = *detail;
  return out;
}

}  // namespace krond::messages
