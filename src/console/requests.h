#pragma once

#include <map>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/result.h"
#include "store/history_store.h"

// Parsing of the console API's requests (docs/api.md): routes, query parameters and JSON
// bodies. Pure functions of untrusted text, fuzzed by fuzz/api_request_fuzzer.cc; every
// error is a message for a 400 response.
namespace krond::console {

enum class Endpoint {
  kNotFound,
  kMethodNotAllowed,
  kWhoami,      // GET  /api/v1/whoami
  kJobs,        // GET  /api/v1/jobs
  kJob,         // GET  /api/v1/jobs/{job}
  kJobRuns,     // GET  /api/v1/jobs/{job}/runs
  kJobSeries,   // GET  /api/v1/jobs/{job}/series
  kJobControl,  // GET  /api/v1/jobs/{job}/control
  kRunNow,      // POST /api/v1/jobs/{job}/run
  kBackfill,    // POST /api/v1/jobs/{job}/backfill
  kPause,       // POST /api/v1/jobs/{job}/pause
  kResume,      // POST /api/v1/jobs/{job}/resume
  kRun,         // GET  /api/v1/runs/{run_id}
  kDead,        // GET  /api/v1/dead
  kReplay,      // POST /api/v1/dead/{cluster}/{run_id}/replay
  kControl,     // GET  /api/v1/control
  kHealth,      // GET  /api/v1/health
  kEvents,      // GET  /api/v1/events
};

struct Route {
  Endpoint endpoint = Endpoint::kNotFound;
  std::string job;
  std::string run_id;
  std::string cluster;
  // The endpoint changes state (POST): operators only.
  bool write = false;
  // Name of the endpoint for metrics labels, e.g. "jobs/{job}/runs".
  std::string_view name = "not_found";
};

// `path` is decoded. A known path with the wrong method is kMethodNotAllowed.
Route ParseRoute(std::string_view method, std::string_view path);

// Whether `name` can be a job or cluster name ([a-z0-9._-], 1..100: docs/jobfile.md).
bool ValidName(std::string_view name);

using Query = std::map<std::string, std::string>;

// `limit` in 1..max, `fallback` when absent.
[[nodiscard]] Result<int> ParseLimit(const Query& query, int fallback, int max);
// name, cluster, outcome, sort (name|cluster|last_run|success_rate), order (asc|desc),
// limit (1..1000, default 50), cursor.
[[nodiscard]] Result<store::JobQuery> ParseJobQuery(const Query& query);
// A boolean flag: absent, "true"/"1" or "false"/"0".
[[nodiscard]] Result<bool> ParseFlag(const Query& query, const std::string& name);

struct BackfillRequest {
  SystemTime from{};
  SystemTime to{};
};
// {"from": RFC 3339, "to": RFC 3339}, from <= to.
[[nodiscard]] Result<BackfillRequest> ParseBackfill(std::string_view body);
// {"reason": "..."} or an empty body; the reason at most 500 characters.
[[nodiscard]] Result<std::string> ParseReason(std::string_view body);

}  // namespace krond::console
