#include "console/cli_format.h"

#include <cstdio>
#include <nlohmann/json.hpp>

namespace krond::console {
namespace {

using nlohmann::json;

std::string Text(const json& j, const char* fallback = "-") {
  if (j.is_null()) return fallback;
  if (j.is_string()) return j.get<std::string>();
  return j.dump();
}

// "2026-03-08T12:00:00.000Z" -> "2026-03-08 12:00:00Z"
std::string ShortTime(const json& j) {
  if (!j.is_string()) return "-";
  std::string t = j.get<std::string>();
  if (t.size() >= 20 && t[10] == 'T') return t.substr(0, 10) + " " + t.substr(11, 8) + "Z";
  return t;
}

std::string Duration(const json& ms) {
  if (!ms.is_number()) return "-";
  const double s = ms.get<double>() / 1000.0;
  char text[32];
  if (s < 60) {
    std::snprintf(text, sizeof text, "%.1fs", s);
  } else {
    std::snprintf(text, sizeof text, "%dm%02ds", static_cast<int>(s) / 60,
                  static_cast<int>(s) % 60);
  }
  return text;
}

std::string Percent(const json& rate) {
  if (!rate.is_number()) return "-";
  char text[16];
  std::snprintf(text, sizeof text, "%.0f%%", rate.get<double>() * 100);
  return text;
}

// One letter per recent outcome, oldest first: S succeeded, F failed, T timed out, K
// killed, s skipped, ! anything else.
std::string Strip(const json& recent) {
  std::string out;
  for (const json& r : recent) {
    const std::string o = Text(r["outcome"]);
    out += o == "succeeded"   ? 'S'
           : o == "failed"    ? 'F'
           : o == "timed_out" ? 'T'
           : o == "killed"    ? 'K'
           : o == "skipped"   ? 's'
                              : '!';
  }
  return out.empty() ? "-" : out;
}

Result<json> Parse(std::string_view body) {
  json j = json::parse(body, nullptr, false);
  if (!j.is_object()) return MakeError("the console's reply is not a JSON object");
  return j;
}

}  // namespace

std::string Table(const std::vector<std::string>& header,
                  const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size(), 0);
  auto measure = [&](const std::vector<std::string>& row) {
    for (size_t i = 0; i < row.size() && i < width.size(); ++i)
      width[i] = std::max(width[i], row[i].size());
  };
  measure(header);
  for (const auto& row : rows) measure(row);
  std::string out;
  auto line = [&](const std::vector<std::string>& row) {
    std::string text;
    for (size_t i = 0; i < row.size() && i < width.size(); ++i) {
      text += row[i];
      if (i + 1 < row.size()) text += std::string(width[i] - row[i].size() + 2, ' ');
    }
    out += text + "\n";
  };
  line(header);
  for (const auto& row : rows) line(row);
  return out;
}

Result<std::string> FormatJobs(std::string_view body) {
  auto j = Parse(body);
  if (!j) return tl::unexpected(j.error());
  if (!(*j)["jobs"].is_array()) return MakeError("the console's reply has no jobs");
  std::vector<std::vector<std::string>> rows;
  for (const json& job : (*j)["jobs"]) {
    const json& last = job["last_run"];
    rows.push_back({Text(job["name"]), Text(job["cluster"]), Text(job["schedule"]),
                    job["paused"].is_boolean() && job["paused"].get<bool>() ? "paused" : "-",
                    job["next"].empty() ? "-" : ShortTime(job["next"][0]),
                    last.is_object() ? Text(last["outcome"]) : "-",
                    last.is_object() ? ShortTime(last["started_at"]) : "-",
                    last.is_object() ? Duration(last["duration_ms"]) : "-",
                    Percent(job["success_rate"]), Strip(job["recent"])});
  }
  std::string out = Table(
      {"NAME", "CLUSTER", "SCHEDULE", "PAUSED", "NEXT", "LAST", "STARTED", "TOOK", "OK", "RECENT"},
      rows);
  out += std::to_string(rows.size()) + " of " + Text((*j)["total"], "?") + " job(s)";
  if ((*j)["next_cursor"].is_string()) {
    out += "; more with --cursor " + (*j)["next_cursor"].get<std::string>();
  }
  return out + "\n";
}

Result<std::string> FormatJob(std::string_view body) {
  auto j = Parse(body);
  if (!j) return tl::unexpected(j.error());
  const json& job = *j;
  std::vector<std::vector<std::string>> rows = {
      {"name", Text(job["name"])},
      {"cluster", Text(job["cluster"])},
      {"schedule", Text(job["schedule"]) + " (" + Text(job["timezone"]) + ")"},
      {"description", Text(job["description"])},
      {"in catalog", Text(job["in_catalog"])},
      {"paused",
       job["paused"].is_boolean() && job["paused"].get<bool>()
           ? "yes, by " + Text(job["paused_by"]) + " at " + ShortTime(job["paused_at"]) +
                 (Text(job["pause_reason"], "").empty() ? "" : ": " + Text(job["pause_reason"]))
           : "no"},
      {"success rate", Percent(job["success_rate"]) + " of the last " +
                           std::to_string(job["recent"].size()) +
                           " run(s): " + Strip(job["recent"])},
  };
  const json& def = job["definition"];
  if (def.is_object() && def["task"].is_object())
    rows.push_back({"command", Text(def["task"]["command"])});
  std::string next;
  for (const json& t : job["next"]) next += (next.empty() ? "" : ", ") + ShortTime(t);
  rows.push_back({"next", next.empty() ? "-" : next});
  std::string out;
  for (const auto& row : rows) {
    out +=
        row[0] + ":" + std::string(14 - std::min<size_t>(13, row[0].size()), ' ') + row[1] + "\n";
  }
  if (job["control"].is_array() && !job["control"].empty()) {
    out += "\npause/resume history:\n";
    std::vector<std::vector<std::string>> trail;
    for (const json& c : job["control"]) {
      trail.push_back({ShortTime(c["at"]), c["paused"].get<bool>() ? "paused" : "resumed",
                       Text(c["by"]), Text(c["reason"], "")});
    }
    out += Table({"AT", "ACTION", "BY", "REASON"}, trail);
  }
  return out;
}

Result<std::string> FormatRuns(std::string_view body) {
  auto j = Parse(body);
  if (!j) return tl::unexpected(j.error());
  if (!(*j)["runs"].is_array()) return MakeError("the console's reply has no runs");
  std::vector<std::vector<std::string>> rows;
  for (const json& run : (*j)["runs"]) {
    const json& attempts = run["attempts"];
    const json last = attempts.empty() ? json::object() : attempts.back();
    rows.push_back({Text(run["run_id"]), ShortTime(run["scheduled_at"]), Text(run["trigger"]),
                    Text(run["status"]), std::to_string(attempts.size()), Text(last["worker"]),
                    Text(last["exit_code"]), Duration(run["duration_ms"])});
  }
  std::string out =
      Table({"RUN", "SCHEDULED", "TRIGGER", "STATUS", "ATTEMPTS", "WORKER", "EXIT", "TOOK"}, rows);
  if ((*j)["next_before"].is_string()) {
    out += "older runs: --before " + (*j)["next_before"].get<std::string>() + "\n";
  }
  return out;
}

Result<std::string> FormatAction(std::string_view body) {
  auto j = Parse(body);
  if (!j) return tl::unexpected(j.error());
  const json& r = *j;
  if (r.contains("runs")) {
    std::string out = "backfill of " + Text(r["job"]) + ": " + Text(r["count"]) + " run(s)\n";
    std::vector<std::vector<std::string>> rows;
    for (const json& run : r["runs"])
      rows.push_back({Text(run["run_id"]), ShortTime(run["scheduled_at"])});
    return out + Table({"RUN", "SCHEDULED"}, rows);
  }
  if (r.contains("run_id")) {
    return Text(r["trigger"]) + " run " + Text(r["run_id"]) + " of " + Text(r["job"]) +
           " requested by " + Text(r["requested_by"]) + "\n";
  }
  if (r.contains("paused")) {
    return Text(r["job"]) + (r["paused"].get<bool>() ? " paused" : " resumed") + " by " +
           Text(r["by"]) + " at " + ShortTime(r["at"]) + "\n";
  }
  return r.dump(2) + "\n";
}

}  // namespace krond::console
