#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "common/result.h"
#include "messages/catalog.h"
#include "messages/run_messages.h"

// The console's run history (docs/console.md): an embedded SQLite database holding what the
// control-plane topics say — the catalog, every run and attempt, dead letters, pause and
// resume — indexed for the API's pages. It is a cache of the topics: deleted, it is rebuilt
// by reading them again (within their retention).
namespace krond::store {

// Plain struct; see docs/console.md.
struct StoreOptions {
  // Runs scheduled longer ago than this are deleted. Default: 30 days. 0: kept forever.
  std::chrono::hours retention{24 * 30};
  // At most this many runs per job are kept, the newest. Default: 0, no limit.
  int64_t max_runs_per_job = 0;
  // Outcomes per job summarised in the jobs list (strip and success rate). Default: 20.
  // Requires: 1..100.
  int recent_runs = 20;
  // SQLite page cache per connection (the writer and each reader), in MiB. Default: 64.
  int cache_mib = 64;
};

// Where a record was read: topic[partition]@offset. Results, dead letters and control
// records are keyed by it, so reading a topic twice adds nothing.
struct Position {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string ToString() const;
};

// One decoded record of a control-plane topic, as the ingester hands it to Apply.
struct CatalogUpsert {
  messages::CatalogEntry entry;
  std::string json;  // the record as published, served as the job's definition
};
struct CatalogRemoval {
  std::string job;
};
struct TaskSeen {
  messages::TaskMessage task;
  bool retry = false;  // from a retry topic: an attempt after the first is due
};
struct ResultSeen {
  messages::ResultMessage result;
  Position at;
};
struct DeadSeen {
  messages::DeadLetter letter;
  std::string json;  // the dead letter as written, for replay
  Position at;
};
struct ReplaySeen {
  messages::ReplayMarker marker;
};
struct ControlSeen {
  messages::ControlRecord control;
  Position at;
};
using Record = std::variant<CatalogUpsert, CatalogRemoval, TaskSeen, ResultSeen, DeadSeen,
                            ReplaySeen, ControlSeen>;

// ---- What queries return (times in ms since the Unix epoch; 0: none) -------------------

struct RecentRun {
  std::string run_id;
  std::string outcome;
  int64_t started_ms = 0;
  int64_t duration_ms = 0;
};

struct JobSummary {
  std::string name;
  std::string cluster;
  std::string schedule;
  std::string timezone;
  std::string description;
  std::string catch_up;
  // The catalog record's JSON; empty when not in the catalog, and in ListJobs pages.
  std::string definition;
  bool in_catalog = false;
  bool paused = false;
  std::string paused_by;
  std::string pause_reason;
  int64_t paused_at_ms = 0;
  std::string last_run_id;
  std::string last_outcome;
  int64_t last_started_ms = 0;
  int64_t last_duration_ms = 0;
  std::vector<RecentRun> recent;  // oldest first, at most StoreOptions::recent_runs
  double success_rate = -1;       // over `recent`; -1 without runs
  int64_t runs_total = 0;         // attempts ingested
};

enum class JobSort { kName, kCluster, kLastRun, kSuccessRate };

struct JobQuery {
  std::string name_contains{};  // substring of the name, case-sensitive; empty: any
  std::string cluster{};        // empty: any
  std::string outcome{};        // last outcome, or "paused", or "never"; empty: any
  JobSort sort = JobSort::kName;
  bool descending = false;
  int limit = 50;        // Requires: 1..1000
  std::string cursor{};  // from JobPage::next_cursor; empty: the first page
  bool include_removed = false;
};

struct JobPage {
  std::vector<JobSummary> jobs;
  int64_t total = 0;        // jobs matching the filters
  std::string next_cursor;  // empty on the last page
};

struct Attempt {
  int attempt = 1;
  std::string worker;
  std::string queue;
  int64_t started_ms = 0;
  int64_t finished_ms = 0;
  std::optional<int64_t> exit_code;
  std::optional<int64_t> signal;
  std::string outcome;
  std::string output_tail;
  int64_t output_bytes = 0;
  std::string error;
};

struct Run {
  std::string run_id;
  std::string job;
  std::string cluster;
  int64_t scheduled_ms = 0;
  std::string trigger;
  std::string requested_by;
  // pending (no result yet), retrying, dead, or the last attempt's outcome.
  std::string status;
  int64_t started_ms = 0;         // of the last attempt
  int64_t finished_ms = 0;        // of the last attempt
  std::vector<Attempt> attempts;  // in the order they were read
};

struct RunPage {
  std::vector<Run> runs;    // newest scheduled first
  std::string next_cursor;  // pass as `before` for the next page; empty on the last
};

struct DeadEntry {
  std::string position;  // topic[partition]@offset
  std::string cluster;
  std::string run_id;
  std::string job;
  std::string reason;
  std::string last_outcome;
  int64_t finished_ms = 0;
  std::string letter;  // the dead letter's JSON
  int64_t replayed_at_ms = 0;
  std::string replayed_by;
};

struct ControlEntry {
  std::string job;
  bool paused = false;
  std::string by;
  int64_t at_ms = 0;
  std::string reason;
};

// Thread safety: Apply and Prune from one thread (the ingester); queries from any number of
// threads at once, each on a pooled read-only connection (SQLite WAL: readers never block
// the writer nor each other).
class HistoryStore {
 public:
  // Opens or creates the database at `path` (WAL mode) and migrates its schema to the
  // current version. Errors name the file; a database of a newer schema is refused.
  [[nodiscard]] static Result<std::unique_ptr<HistoryStore>> Open(const std::string& path,
                                                                  StoreOptions options = {});
  ~HistoryStore();

  static constexpr int kSchemaVersion = 3;
  // A random id made when the file was created: the console's consumer group derives from
  // it, so a new (rebuilt) database reads the topics from their start.
  const std::string& database_id() const { return database_id_; }

  // Applies `records` in one transaction; returns how many changed the store (the rest were
  // already there). Summaries of the jobs touched are updated with it.
  [[nodiscard]] Result<size_t> Apply(const std::vector<Record>& records);
  // Deletes runs past the retention; returns how many.
  [[nodiscard]] Result<int64_t> Prune(int64_t now_ms);

  [[nodiscard]] Result<JobPage> ListJobs(const JobQuery& query) const;
  // nullopt: no such job.
  [[nodiscard]] Result<std::optional<JobSummary>> GetJob(const std::string& name) const;
  // `before`: a RunPage::next_cursor; empty for the newest. limit 1..1000.
  [[nodiscard]] Result<RunPage> ListRuns(const std::string& job, int limit,
                                         const std::string& before) const;
  [[nodiscard]] Result<std::optional<Run>> GetRun(const std::string& run_id) const;
  // Runs of a job, newest first, without attempts: for the duration/outcome chart.
  [[nodiscard]] Result<std::vector<Run>> RunSeries(const std::string& job, int limit) const;
  // Dead letters of a cluster (every cluster when empty), newest first.
  [[nodiscard]] Result<std::vector<DeadEntry>> ListDead(const std::string& cluster,
                                                        int limit) const;
  [[nodiscard]] Result<std::optional<DeadEntry>> GetDead(const std::string& cluster,
                                                         const std::string& run_id) const;
  // Pause and resume records of a job (every job when empty), newest first.
  [[nodiscard]] Result<std::vector<ControlEntry>> ControlHistory(const std::string& job,
                                                                 int limit) const;
  // Paused jobs per cluster.
  [[nodiscard]] Result<std::vector<std::pair<std::string, int64_t>>> PausedByCluster() const;

 private:
  class Impl;
  explicit HistoryStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
  std::string database_id_;
};

}  // namespace krond::store
