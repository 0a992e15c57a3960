#include "messages/catalog.h"

#include <nlohmann/json.hpp>

#include "common/time_format.h"
#include "messages/json_fields.h"

namespace krond::messages {

using internal::FieldReader;
using nlohmann::json;

std::string Encode(const CatalogEntry& e) {
  json next = json::array();
  for (SystemTime t : e.next) next.push_back(FormatRfc3339Utc(t));
  json task = json::parse(Encode(e.task));
  // Job fields only: a run's identity and instants do not belong to the job.
  for (const char* key : {"run_id", "scheduled_at", "produced_at", "attempt", "trigger"}) {
    task.erase(key);
  }
  json j = {{"v", kVersion},
            {"job", e.job},
            {"cluster", e.cluster},
            {"schedule", e.schedule},
            {"timezone", e.timezone},
            {"description", e.description},
            {"catch_up", e.catch_up},
            {"next", std::move(next)},
            {"published_at", FormatRfc3339Utc(e.published_at)},
            {"task", std::move(task)}};
  return j.dump();
}

Result<CatalogEntry> DecodeCatalogEntry(std::string_view text) {
  auto doc = internal::ParseObject(text);
  if (!doc) return tl::unexpected(doc.error());
  FieldReader r(*doc);
  CatalogEntry e;
  e.job = r.Short("job");
  e.cluster = r.Short("cluster");
  e.schedule = r.Short("schedule");
  e.timezone = r.Short("timezone", false);
  if (e.timezone.empty()) e.timezone = "UTC";
  e.description = r.Short("description", false, kMaxDescriptionBytes);
  e.catch_up = r.Short("catch_up", false);
  e.published_at = r.Time("published_at", false);
  const std::vector<std::string> next = r.Strings("next", {});
  if (next.size() > kMaxNextFires) {
    return MakeError("field \"next\": more than " + std::to_string(kMaxNextFires) + " times");
  }
  for (const std::string& t : next) {
    auto parsed = ParseRfc3339(t);
    if (!parsed) return MakeError("field \"next\": " + parsed.error().message);
    e.next.push_back(*parsed);
  }
  if (!r.ok()) return MakeError(r.error());
  if (!r.Has("task") || !doc->at("task").is_object()) return MakeError("field \"task\": missing");
  auto task = internal::TaskFromJson(doc->at("task"), /*job_fields_only=*/true);
  if (!task) return MakeError("field \"task\": " + task.error().message);
  e.task = std::move(*task);
  if (e.task.job != e.job || e.task.cluster != e.cluster) {
    return MakeError("field \"task\": job and cluster differ from the record's");
  }
  return e;
}

std::string Encode(const ControlRecord& c) {
  json j = {{"v", kVersion},
            {"job", c.job},
            {"paused", c.paused},
            {"by", c.by},
            {"at", FormatRfc3339Utc(c.at)}};
  if (!c.reason.empty()) j["reason"] = c.reason;
  return j.dump();
}

Result<ControlRecord> DecodeControlRecord(std::string_view text) {
  auto doc = internal::ParseObject(text);
  if (!doc) return tl::unexpected(doc.error());
  FieldReader r(*doc);
  ControlRecord c;
  c.job = r.Short("job");
  c.paused = r.Bool("paused", false);
  if (!r.Has("paused")) r.Fail("paused", "missing");
  c.by = r.Short("by", false);
  c.at = r.Time("at", false);
  c.reason = r.Short("reason", false, kMaxReasonBytes);
  if (!r.ok()) return MakeError(r.error());
  if (c.job.empty()) return MakeError("field \"job\": empty");
  return c;
}

}  // namespace krond::messages
