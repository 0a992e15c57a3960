#include "console/requests.h"

#include <charconv>
#include <nlohmann/json.hpp>
#include <vector>

#include "common/time_format.h"

namespace krond::console {
namespace {

std::vector<std::string_view> Segments(std::string_view path) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t slash = path.find('/', start);
    const size_t end = slash == std::string_view::npos ? path.size() : slash;
    out.push_back(path.substr(start, end - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  return out;
}

Route Make(Endpoint e, std::string_view name, bool write = false) {
  Route r;
  r.endpoint = e;
  r.name = name;
  r.write = write;
  return r;
}

// A method check: the route when `method` is the expected one, else 405.
Route Want(std::string_view method, std::string_view expected, Route route) {
  if (method != expected) {
    Route wrong = Make(Endpoint::kMethodNotAllowed, route.name);
    return wrong;
  }
  return route;
}

Result<nlohmann::json> ParseBody(std::string_view body) {
  auto doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return MakeError("the body is not valid JSON");
  if (!doc.is_object()) return MakeError("the body must be a JSON object");
  return doc;
}

}  // namespace

bool ValidName(std::string_view name) {
  if (name.empty() || name.size() > 100) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')) {
      return false;
    }
  }
  return true;
}

Route ParseRoute(std::string_view method, std::string_view path) {
  constexpr std::string_view kPrefix = "/api/v1/";
  if (path.substr(0, kPrefix.size()) != kPrefix) return {};
  const auto s = Segments(path.substr(kPrefix.size()));
  const std::string_view top = s[0];
  if (s.size() == 1) {
    if (top == "whoami") return Want(method, "GET", Make(Endpoint::kWhoami, "whoami"));
    if (top == "jobs") return Want(method, "GET", Make(Endpoint::kJobs, "jobs"));
    if (top == "dead") return Want(method, "GET", Make(Endpoint::kDead, "dead"));
    if (top == "control") return Want(method, "GET", Make(Endpoint::kControl, "control"));
    if (top == "health") return Want(method, "GET", Make(Endpoint::kHealth, "health"));
    if (top == "events") return Want(method, "GET", Make(Endpoint::kEvents, "events"));
    return {};
  }
  if (top == "jobs" && (s.size() == 2 || s.size() == 3) && !s[1].empty()) {
    Route r;
    if (s.size() == 2) {
      r = Want(method, "GET", Make(Endpoint::kJob, "jobs/{job}"));
    } else if (s[2] == "runs") {
      r = Want(method, "GET", Make(Endpoint::kJobRuns, "jobs/{job}/runs"));
    } else if (s[2] == "series") {
      r = Want(method, "GET", Make(Endpoint::kJobSeries, "jobs/{job}/series"));
    } else if (s[2] == "control") {
      r = Want(method, "GET", Make(Endpoint::kJobControl, "jobs/{job}/control"));
    } else if (s[2] == "run") {
      r = Want(method, "POST", Make(Endpoint::kRunNow, "jobs/{job}/run", true));
    } else if (s[2] == "backfill") {
      r = Want(method, "POST", Make(Endpoint::kBackfill, "jobs/{job}/backfill", true));
    } else if (s[2] == "pause") {
      r = Want(method, "POST", Make(Endpoint::kPause, "jobs/{job}/pause", true));
    } else if (s[2] == "resume") {
      r = Want(method, "POST", Make(Endpoint::kResume, "jobs/{job}/resume", true));
    } else {
      return {};
    }
    r.job = std::string(s[1]);
    return r;
  }
  if (top == "runs" && s.size() == 2 && !s[1].empty()) {
    Route r = Want(method, "GET", Make(Endpoint::kRun, "runs/{run_id}"));
    r.run_id = std::string(s[1]);
    return r;
  }
  if (top == "dead" && s.size() == 4 && s[3] == "replay" && !s[1].empty() && !s[2].empty()) {
    Route r = Want(method, "POST", Make(Endpoint::kReplay, "dead/{cluster}/{run_id}/replay", true));
    r.cluster = std::string(s[1]);
    r.run_id = std::string(s[2]);
    return r;
  }
  return {};
}

Result<int> ParseLimit(const Query& query, int fallback, int max) {
  auto it = query.find("limit");
  if (it == query.end()) return fallback;
  int value = 0;
  const std::string& text = it->second;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 1 || value > max) {
    return MakeError("limit must be a number from 1 to " + std::to_string(max));
  }
  return value;
}

Result<bool> ParseFlag(const Query& query, const std::string& name) {
  auto it = query.find(name);
  if (it == query.end()) return false;
  if (it->second == "true" || it->second == "1") return true;
  if (it->second == "false" || it->second == "0") return false;
  return MakeError(name + " must be true or false");
}

Result<store::JobQuery> ParseJobQuery(const Query& query) {
  store::JobQuery q;
  auto get = [&](const char* name) {
    auto it = query.find(name);
    return it == query.end() ? std::string() : it->second;
  };
  q.name_contains = get("name");
  if (q.name_contains.size() > 100) return MakeError("name must be at most 100 characters");
  q.cluster = get("cluster");
  if (!q.cluster.empty() && !ValidName(q.cluster)) return MakeError("cluster is not a valid name");
  q.outcome = get("outcome");
  if (!q.outcome.empty() && q.outcome != "paused" && q.outcome != "never" &&
      !messages::ParseOutcome(q.outcome)) {
    return MakeError("outcome must be an outcome (succeeded, failed, ...), paused or never");
  }
  const std::string sort = get("sort");
  if (sort.empty() || sort == "name") {
    q.sort = store::JobSort::kName;
  } else if (sort == "cluster") {
    q.sort = store::JobSort::kCluster;
  } else if (sort == "last_run") {
    q.sort = store::JobSort::kLastRun;
  } else if (sort == "success_rate") {
    q.sort = store::JobSort::kSuccessRate;
  } else {
    return MakeError("sort must be name, cluster, last_run or success_rate");
  }
  const std::string order = get("order");
  if (order != "" && order != "asc" && order != "desc")
    return MakeError("order must be asc or desc");
  q.descending = order == "desc";
  auto limit = ParseLimit(query, 50, 1000);
  if (!limit) return tl::unexpected(limit.error());
  q.limit = *limit;
  q.cursor = get("cursor");
  if (q.cursor.size() > 2000) return MakeError("invalid cursor");
  return q;
}

Result<BackfillRequest> ParseBackfill(std::string_view body) {
  auto doc = ParseBody(body);
  if (!doc) return tl::unexpected(doc.error());
  BackfillRequest r;
  for (auto [name, target] : {std::pair{"from", &r.from}, std::pair{"to", &r.to}}) {
    auto it = doc->find(name);
    if (it == doc->end() || !it->is_string()) {
      return MakeError(std::string("\"") + name + "\" is required: an RFC 3339 time");
    }
    auto t = ParseRfc3339(it->get<std::string>());
    if (!t) return MakeError(std::string("\"") + name + "\": " + t.error().message);
    *target = *t;
  }
  if (r.to < r.from) return MakeError("\"to\" is before \"from\"");
  return r;
}

Result<std::string> ParseReason(std::string_view body) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return std::string();
  auto doc = ParseBody(body);
  if (!doc) return tl::unexpected(doc.error());
  auto it = doc->find("reason");
  if (it == doc->end() || it->is_null()) return std::string();
  if (!it->is_string()) return MakeError("\"reason\" must be a string");
  std::string reason = it->get<std::string>();
  if (reason.size() > 500) return MakeError("\"reason\" must be at most 500 characters");
  return reason;
}

}  // namespace krond::console
