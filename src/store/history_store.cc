#include "store/history_store.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "store/sqlite.h"

namespace krond::store {
namespace {

using internal::Database;
using internal::Statement;
using nlohmann::json;

int64_t Ms(SystemTime t) { return t.time_since_epoch().count(); }

// Migrations, in order: migration i brings the schema from version i to i + 1. Never edit a
// released one; add the next.
constexpr const char* kMigrations[] = {
    R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
-- One row per job seen in the catalog or in results: the catalog's definition, the pause
-- state, and a summary kept up to date on ingest so the jobs page never aggregates runs.
CREATE TABLE jobs(
  name TEXT PRIMARY KEY,
  cluster TEXT NOT NULL DEFAULT '',
  schedule TEXT NOT NULL DEFAULT '',
  timezone TEXT NOT NULL DEFAULT '',
  description TEXT NOT NULL DEFAULT '',
  catch_up TEXT NOT NULL DEFAULT '',
  definition TEXT NOT NULL DEFAULT '',
  in_catalog INTEGER NOT NULL DEFAULT 0,
  paused INTEGER NOT NULL DEFAULT 0,
  paused_by TEXT NOT NULL DEFAULT '',
  pause_reason TEXT NOT NULL DEFAULT '',
  paused_at_ms INTEGER NOT NULL DEFAULT 0,
  last_run_id TEXT NOT NULL DEFAULT '',
  last_outcome TEXT NOT NULL DEFAULT '',
  last_started_ms INTEGER NOT NULL DEFAULT 0,
  last_duration_ms INTEGER NOT NULL DEFAULT 0,
  recent TEXT NOT NULL DEFAULT '[]',
  success_rate REAL NOT NULL DEFAULT -1,
  runs_total INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX jobs_by_cluster ON jobs(cluster, name);
CREATE INDEX jobs_by_last_run ON jobs(last_started_ms, name);
CREATE INDEX jobs_by_success ON jobs(success_rate, name);
-- One row per run; its attempts below. The job index serves the keyset-paginated history.
CREATE TABLE runs(
  run_id TEXT PRIMARY KEY,
  job TEXT NOT NULL,
  cluster TEXT NOT NULL DEFAULT '',
  scheduled_ms INTEGER NOT NULL DEFAULT 0,
  trigger TEXT NOT NULL DEFAULT 'schedule',
  requested_by TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL DEFAULT 'pending',
  started_ms INTEGER NOT NULL DEFAULT 0,
  finished_ms INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX runs_by_job ON runs(job, scheduled_ms, run_id);
CREATE INDEX runs_by_time ON runs(scheduled_ms);
-- One row per result record, keyed by where it was read: reading a topic twice adds nothing.
CREATE TABLE attempts(
  run_id TEXT NOT NULL,
  kafka_partition INTEGER NOT NULL,
  kafka_offset INTEGER NOT NULL,
  attempt INTEGER NOT NULL,
  worker TEXT NOT NULL,
  queue TEXT NOT NULL,
  trigger TEXT NOT NULL,
  started_ms INTEGER NOT NULL,
  finished_ms INTEGER NOT NULL,
  exit_code INTEGER,
  signal INTEGER,
  outcome TEXT NOT NULL,
  output_tail TEXT NOT NULL,
  output_bytes INTEGER NOT NULL,
  error TEXT NOT NULL,
  PRIMARY KEY(run_id, kafka_partition, kafka_offset)
) WITHOUT ROWID;
CREATE TABLE dead(
  position TEXT PRIMARY KEY,
  cluster TEXT NOT NULL,
  run_id TEXT NOT NULL,
  job TEXT NOT NULL,
  reason TEXT NOT NULL,
  last_outcome TEXT NOT NULL,
  finished_ms INTEGER NOT NULL,
  letter TEXT NOT NULL,
  replayed_at_ms INTEGER NOT NULL DEFAULT 0,
  replayed_by TEXT NOT NULL DEFAULT ''
);
CREATE INDEX dead_by_cluster ON dead(cluster, finished_ms);
CREATE INDEX dead_by_run ON dead(cluster, run_id);
-- The pause/resume audit trail, every record as read.
CREATE TABLE control(
  position TEXT PRIMARY KEY,
  job TEXT NOT NULL,
  paused INTEGER NOT NULL,
  by TEXT NOT NULL,
  at_ms INTEGER NOT NULL,
  reason TEXT NOT NULL
);
CREATE INDEX control_by_job ON control(job, at_ms);
CREATE INDEX control_by_time ON control(at_ms);
)sql",
    // 2: the jobs table made narrow: list pages walk it in index order, filtering as they go,
    // and its wide columns (the catalog record, the recent outcomes: about 2 KB a job) made
    // every page read seconds of rows at 100,000 jobs. They move to job_details, read for the
    // rows of a page only. Rebuilding the table drops all its indexes, so this also serves
    // the schema-1 files that have jobs_catalog (made by builds before the version bump).
    R"sql(
CREATE TABLE job_details(
  job TEXT PRIMARY KEY,
  definition TEXT NOT NULL DEFAULT '',
  recent TEXT NOT NULL DEFAULT '[]'
) WITHOUT ROWID;
INSERT INTO job_details(job, definition, recent) SELECT name, definition, recent FROM jobs;
CREATE TABLE jobs_narrow(
  name TEXT PRIMARY KEY,
  cluster TEXT NOT NULL DEFAULT '',
  schedule TEXT NOT NULL DEFAULT '',
  timezone TEXT NOT NULL DEFAULT '',
  description TEXT NOT NULL DEFAULT '',
  catch_up TEXT NOT NULL DEFAULT '',
  in_catalog INTEGER NOT NULL DEFAULT 0,
  paused INTEGER NOT NULL DEFAULT 0,
  paused_by TEXT NOT NULL DEFAULT '',
  pause_reason TEXT NOT NULL DEFAULT '',
  paused_at_ms INTEGER NOT NULL DEFAULT 0,
  last_run_id TEXT NOT NULL DEFAULT '',
  last_outcome TEXT NOT NULL DEFAULT '',
  last_started_ms INTEGER NOT NULL DEFAULT 0,
  last_duration_ms INTEGER NOT NULL DEFAULT 0,
  success_rate REAL NOT NULL DEFAULT -1,
  runs_total INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
INSERT INTO jobs_narrow SELECT name, cluster, schedule, timezone, description, catch_up,
  in_catalog, paused, paused_by, pause_reason, paused_at_ms, last_run_id, last_outcome,
  last_started_ms, last_duration_ms, success_rate, runs_total FROM jobs;
DROP TABLE jobs;
ALTER TABLE jobs_narrow RENAME TO jobs;
CREATE INDEX jobs_by_cluster ON jobs(cluster, name);
-- Covering for the list's count.
CREATE INDEX jobs_catalog ON jobs(in_catalog, cluster, last_outcome, paused, name);
CREATE INDEX jobs_by_last_run ON jobs(last_started_ms, name);
CREATE INDEX jobs_by_success ON jobs(success_rate, name);
)sql",
    // 3: name search by an index of every name's trigrams (SQLite FTS5), so a search that
    // matches few of 100,000 jobs reads those few instead of walking every name. Jobs rows are
    // never deleted (a job removed from the catalog keeps its history), so only inserts are
    // mirrored; queries join back to jobs in any case.
    R"sql(
CREATE VIRTUAL TABLE job_names USING fts5(name, tokenize='trigram case_sensitive 1');
INSERT INTO job_names(name) SELECT name FROM jobs;
CREATE TRIGGER job_names_insert AFTER INSERT ON jobs BEGIN
  INSERT INTO job_names(name) VALUES(new.name);
END;
)sql",
};
constexpr int kMigrationCount = static_cast<int>(std::size(kMigrations));
static_assert(kMigrationCount == HistoryStore::kSchemaVersion);

// The columns ReadJob reads; `definition` false leaves the definition out (list pages).
std::string JobColumns(bool definition) {
  return std::string("name, cluster, schedule, timezone, description, catch_up, ") +
         (definition ? "COALESCE(d.definition, '')" : "''") +
         ", in_catalog, paused, paused_by, pause_reason, paused_at_ms, last_run_id, last_outcome, "
         "last_started_ms, last_duration_ms, COALESCE(d.recent, '[]'), success_rate, runs_total";
}
// Joined to `jobs` (or the rows standing for it) by the queries reading JobColumns.
constexpr const char* kDetailsJoin = " LEFT JOIN job_details d ON d.job = jobs.name";

// Name searches matching at most this many jobs are answered from the trigram index
// (job_names): the matches are fetched and sorted. Broader ones walk the sort order's index
// instead, where matches are dense enough to fill a page early.
constexpr int kIndexedSearchMax = 2000;

// The FTS5 query matching `text` anywhere in a name: one quoted phrase, whose trigrams must
// follow each other, i.e. a substring.
std::string SubstringPhrase(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    out += c;
    if (c == '"') out += '"';
  }
  return out + "\"";
}

// Code points in UTF-8 `text`: the trigram index answers substrings of three or more.
size_t CodePoints(std::string_view text) {
  return static_cast<size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

JobSummary ReadJob(const Statement& s) {
  JobSummary j;
  j.name = s.Text(0);
  j.cluster = s.Text(1);
  j.schedule = s.Text(2);
  j.timezone = s.Text(3);
  j.description = s.Text(4);
  j.catch_up = s.Text(5);
  j.definition = s.Text(6);
  j.in_catalog = s.Int(7) != 0;
  j.paused = s.Int(8) != 0;
  j.paused_by = s.Text(9);
  j.pause_reason = s.Text(10);
  j.paused_at_ms = s.Int(11);
  j.last_run_id = s.Text(12);
  j.last_outcome = s.Text(13);
  j.last_started_ms = s.Int(14);
  j.last_duration_ms = s.Int(15);
  json recent = json::parse(s.Text(16), nullptr, false);
  if (recent.is_array()) {
    for (const json& r : recent) {
      if (!r.is_array() || r.size() != 4) continue;
      j.recent.push_back({r[0].get<std::string>(), r[1].get<std::string>(), r[2].get<int64_t>(),
                          r[3].get<int64_t>()});
    }
  }
  j.success_rate = s.Double(17);
  j.runs_total = s.Int(18);
  return j;
}

constexpr const char* kRunColumns =
    "run_id, job, cluster, scheduled_ms, trigger, requested_by, status, started_ms, finished_ms";

Run ReadRun(const Statement& s) {
  Run r;
  r.run_id = s.Text(0);
  r.job = s.Text(1);
  r.cluster = s.Text(2);
  r.scheduled_ms = s.Int(3);
  r.trigger = s.Text(4);
  r.requested_by = s.Text(5);
  r.status = s.Text(6);
  r.started_ms = s.Int(7);
  r.finished_ms = s.Int(8);
  return r;
}

DeadEntry ReadDead(const Statement& s) {
  DeadEntry d;
  d.position = s.Text(0);
  d.cluster = s.Text(1);
  d.run_id = s.Text(2);
  d.job = s.Text(3);
  d.reason = s.Text(4);
  d.last_outcome = s.Text(5);
  d.finished_ms = s.Int(6);
  d.letter = s.Text(7);
  d.replayed_at_ms = s.Int(8);
  d.replayed_by = s.Text(9);
  return d;
}

std::string Hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

std::optional<std::string> Unhex(std::string_view text) {
  if (text.size() % 2 != 0) return std::nullopt;
  auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < text.size(); i += 2) {
    const int hi = digit(text[i]), lo = digit(text[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out += static_cast<char>(hi * 16 + lo);
  }
  return out;
}

std::string RandomId() {
  std::random_device device;
  std::string bytes;
  for (int i = 0; i < 16; ++i) bytes += static_cast<char>(device() & 0xff);
  return Hex(bytes);
}

template <class T>
Result<T> Fail(const std::string& what, const Error& e) {
  return MakeError(what + ": " + e.message);
}

}  // namespace

std::string Position::ToString() const {
  return topic + "[" + std::to_string(partition) + "]@" + std::to_string(offset);
}

class HistoryStore::Impl {
 public:
  std::string path;
  StoreOptions options;
  std::unique_ptr<Database> writer;
  mutable std::mutex readers_mu;
  mutable std::vector<std::unique_ptr<Database>> readers;  // idle read connections

  // A read connection for the duration of one query.
  class Lease {
   public:
    Lease(const Impl& impl, std::unique_ptr<Database> db) : impl_(impl), db_(std::move(db)) {}
    Lease(Lease&&) = default;
    ~Lease() {
      if (!db_) return;
      std::lock_guard lock(impl_.readers_mu);
      impl_.readers.push_back(std::move(db_));
    }
    Database* operator->() const { return db_.get(); }
    Database& operator*() const { return *db_; }

   private:
    const Impl& impl_;
    std::unique_ptr<Database> db_;
  };

  Result<Lease> Read() const {
    {
      std::lock_guard lock(readers_mu);
      if (!readers.empty()) {
        auto db = std::move(readers.back());
        readers.pop_back();
        return Lease(*this, std::move(db));
      }
    }
    auto db = Database::Open(path, /*read_only=*/true);
    if (!db) return tl::unexpected(db.error());
    if (auto ok = (*db)->Exec(CachePragma()); !ok) return tl::unexpected(ok.error());
    return Lease(*this, std::move(*db));
  }

  std::string CachePragma() const {
    return "PRAGMA cache_size=-" + std::to_string(int64_t{options.cache_mib} * 1024);
  }

  Status Migrate() {
    // synchronous=NORMAL in WAL mode: a power loss may lose the last transactions, never
    // corrupt the file; the store is a cache of the topics, which have them.
    if (auto ok = writer->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA "
                               "wal_autocheckpoint=20000; " +
                               CachePragma());
        !ok) {
      return ok;
    }
    auto version_stmt = writer->Prepare("PRAGMA user_version");
    if (!version_stmt) return tl::unexpected(version_stmt.error());
    auto row = (*version_stmt)->Step();
    if (!row) return tl::unexpected(row.error());
    int version = static_cast<int>((*version_stmt)->Int(0));
    (*version_stmt)->Reset();
    if (version == 1) {
      // Development builds wrote schema 2's layout (job_details) as version 1.
      auto narrow = writer->Prepare("SELECT 1 FROM sqlite_schema WHERE name='job_details'");
      if (!narrow) return tl::unexpected(narrow.error());
      auto found = (*narrow)->Step();
      if (!found) return tl::unexpected(found.error());
      (*narrow)->Reset();
      if (*found) {
        if (auto ok = writer->Exec("PRAGMA user_version=2"); !ok) return ok;
        version = 2;
      }
    }
    if (version > kMigrationCount) {
      return MakeError("schema version " + std::to_string(version) +
                       " is newer than this krond's (" + std::to_string(kMigrationCount) +
                       "): delete the file to rebuild it, or run a newer krond");
    }
    for (int v = version; v < kMigrationCount; ++v) {
      const std::string sql = std::string("BEGIN;") + kMigrations[v] +
                              "PRAGMA user_version=" + std::to_string(v + 1) + ";COMMIT;";
      if (auto ok = writer->Exec(sql); !ok) {
        (void)writer->Exec("ROLLBACK");
        return MakeError("migration to schema " + std::to_string(v + 1) + ": " +
                         ok.error().message);
      }
    }
    return {};
  }

  Result<std::string> DatabaseId() {
    auto get = writer->Prepare("SELECT value FROM meta WHERE key='database_id'");
    if (!get) return tl::unexpected(get.error());
    auto row = (*get)->Step();
    if (!row) return tl::unexpected(row.error());
    if (*row) {
      std::string id = (*get)->Text(0);
      (*get)->Reset();
      return id;
    }
    std::string id = RandomId();
    auto put = writer->Prepare("INSERT INTO meta(key, value) VALUES('database_id', ?)");
    if (!put) return tl::unexpected(put.error());
    if (auto ok = (*put)->Bind(1, id).Run(); !ok) return tl::unexpected(ok.error());
    return id;
  }

  // ---- Ingest ----------------------------------------------------------------------------

  Result<bool> Upsert(const CatalogUpsert& u) {
    auto s = writer->Prepare(
        "INSERT INTO jobs(name, cluster, schedule, timezone, description, catch_up, in_catalog) "
        "VALUES(?,?,?,?,?,?,1) ON CONFLICT(name) DO UPDATE SET "
        "cluster=excluded.cluster, schedule=excluded.schedule, timezone=excluded.timezone, "
        "description=excluded.description, catch_up=excluded.catch_up, in_catalog=1 "
        "WHERE jobs.in_catalog=0 OR jobs.cluster<>excluded.cluster OR "
        "jobs.schedule<>excluded.schedule OR jobs.timezone<>excluded.timezone OR "
        "jobs.description<>excluded.description OR jobs.catch_up<>excluded.catch_up");
    if (!s) return tl::unexpected(s.error());
    const auto& e = u.entry;
    (*s)->Bind(1, e.job).Bind(2, e.cluster).Bind(3, e.schedule).Bind(4, e.timezone);
    (*s)->Bind(5, e.description).Bind(6, e.catch_up);
    if (auto ok = (*s)->Run(); !ok) return tl::unexpected(ok.error());
    const bool job_changed = writer->Changes() > 0;
    auto d = writer->Prepare(
        "INSERT INTO job_details(job, definition) VALUES(?,?) ON CONFLICT(job) DO UPDATE SET "
        "definition=excluded.definition WHERE job_details.definition<>excluded.definition");
    if (!d) return tl::unexpected(d.error());
    if (auto ok = (*d)->Bind(1, e.job).Bind(2, u.json).Run(); !ok)
      return tl::unexpected(ok.error());
    return job_changed || writer->Changes() > 0;
  }

  Result<bool> Remove(const CatalogRemoval& r) {
    auto s = writer->Prepare("UPDATE jobs SET in_catalog=0 WHERE name=?");
    if (!s) return tl::unexpected(s.error());
    if (auto ok = (*s)->Bind(1, r.job).Run(); !ok) return tl::unexpected(ok.error());
    return writer->Changes() > 0;
  }

  Result<bool> Task(const TaskSeen& t) {
    const auto& task = t.task;
    if (t.retry) {
      auto s = writer->Prepare(
          "UPDATE runs SET status='retrying' WHERE run_id=? AND ?>=finished_ms AND status<>'dead'");
      if (!s) return tl::unexpected(s.error());
      if (auto ok = (*s)->Bind(1, task.run_id).Bind(2, Ms(task.produced_at)).Run(); !ok) {
        return tl::unexpected(ok.error());
      }
      return writer->Changes() > 0;
    }
    // A replay puts the same run back: it is pending again unless a later result is known.
    auto s = writer->Prepare(
        "INSERT INTO runs(run_id, job, cluster, scheduled_ms, trigger, requested_by) "
        "VALUES(?,?,?,?,?,?) ON CONFLICT(run_id) DO UPDATE SET "
        "status=CASE WHEN excluded.trigger='replay' AND ?7>runs.finished_ms THEN 'pending' "
        "ELSE runs.status END, "
        "requested_by=CASE WHEN runs.requested_by='' THEN excluded.requested_by "
        "ELSE runs.requested_by END "
        "WHERE (excluded.trigger='replay' AND ?7>runs.finished_ms) OR "
        "(runs.requested_by='' AND excluded.requested_by<>'')");
    if (!s) return tl::unexpected(s.error());
    (*s)->Bind(1, task.run_id).Bind(2, task.job).Bind(3, task.cluster);
    (*s)->Bind(4, Ms(task.scheduled_at)).Bind(5, messages::TriggerName(task.trigger));
    (*s)->Bind(6, task.requested_by).Bind(7, Ms(task.produced_at));
    if (auto ok = (*s)->Run(); !ok) return tl::unexpected(ok.error());
    return writer->Changes() > 0;
  }

  Result<bool> Attempt(const ResultSeen& seen) {
    const auto& r = seen.result;
    auto s = writer->Prepare(
        "INSERT OR IGNORE INTO attempts(run_id, kafka_partition, kafka_offset, attempt, worker, "
        "queue, trigger, started_ms, finished_ms, exit_code, signal, outcome, output_tail, "
        "output_bytes, error) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
    if (!s) return tl::unexpected(s.error());
    (*s)->Bind(1, r.run_id).Bind(2, int64_t{seen.at.partition}).Bind(3, seen.at.offset);
    (*s)->Bind(4, int64_t{r.attempt}).Bind(5, r.worker).Bind(6, r.queue);
    (*s)->Bind(7, messages::TriggerName(r.trigger)).Bind(8, Ms(r.started_at));
    (*s)->Bind(9, Ms(r.finished_at));
    (*s)->Bind(10, r.exit_code ? std::optional<int64_t>(*r.exit_code) : std::nullopt);
    (*s)->Bind(11, r.signal ? std::optional<int64_t>(*r.signal) : std::nullopt);
    (*s)->Bind(12, messages::OutcomeName(r.outcome)).Bind(13, r.output_tail);
    (*s)->Bind(14, r.output_bytes).Bind(15, r.error);
    if (auto ok = (*s)->Run(); !ok) return tl::unexpected(ok.error());
    if (writer->Changes() == 0) return false;
    // The run, made from the result when its task was not read (retention, or an invalid
    // message); its status follows the latest attempt, a dead letter of the same instant wins.
    auto run = writer->Prepare(
        "INSERT INTO runs(run_id, job, cluster, scheduled_ms, trigger, requested_by, status, "
        "started_ms, finished_ms) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9) ON CONFLICT(run_id) DO "
        "UPDATE SET status=?7, started_ms=?8, finished_ms=?9 WHERE ?9>runs.finished_ms OR "
        "(?9=runs.finished_ms AND runs.status<>'dead')");
    if (!run) return tl::unexpected(run.error());
    (*run)->Bind(1, r.run_id).Bind(2, r.job).Bind(3, r.cluster).Bind(4, Ms(r.scheduled_at));
    (*run)->Bind(5, messages::TriggerName(r.trigger)).Bind(6, r.requested_by);
    (*run)->Bind(7, messages::OutcomeName(r.outcome)).Bind(8, Ms(r.started_at));
    (*run)->Bind(9, Ms(r.finished_at));
    if (auto ok = (*run)->Run(); !ok) return tl::unexpected(ok.error());
    return true;
  }

  Result<bool> Dead(const DeadSeen& seen) {
    const auto& d = seen.letter;
    const std::string run_id = d.task ? d.task->run_id : d.last_result.run_id;
    const std::string job = d.task ? d.task->job : d.last_result.job;
    const std::string cluster = d.task ? d.task->cluster : d.last_result.cluster;
    auto s = writer->Prepare(
        "INSERT OR IGNORE INTO dead(position, cluster, run_id, job, reason, last_outcome, "
        "finished_ms, letter) VALUES(?,?,?,?,?,?,?,?)");
    if (!s) return tl::unexpected(s.error());
    (*s)->Bind(1, seen.at.ToString()).Bind(2, cluster).Bind(3, run_id).Bind(4, job);
    (*s)->Bind(5, d.reason).Bind(6, messages::OutcomeName(d.last_result.outcome));
    (*s)->Bind(7, Ms(d.last_result.finished_at)).Bind(8, seen.json);
    if (auto ok = (*s)->Run(); !ok) return tl::unexpected(ok.error());
    if (writer->Changes() == 0) return false;
    auto run = writer->Prepare(
        "UPDATE runs SET status='dead', finished_ms=? WHERE run_id=? AND ?>=finished_ms");
    if (!run) return tl::unexpected(run.error());
    const int64_t finished = Ms(d.last_result.finished_at);
    if (auto ok = (*run)->Bind(1, finished).Bind(2, run_id).Bind(3, finished).Run(); !ok) {
      return tl::unexpected(ok.error());
    }
    return true;
  }

  Result<bool> Replay(const ReplaySeen& seen) {
    auto s = writer->Prepare(
        "UPDATE dead SET replayed_at_ms=?, replayed_by=? WHERE position=? AND replayed_at_ms<?");
    if (!s) return tl::unexpected(s.error());
    const auto& m = seen.marker;
    (*s)->Bind(1, Ms(m.replayed_at)).Bind(2, m.by).Bind(3, m.replay_of).Bind(4, Ms(m.replayed_at));
    if (auto ok = (*s)->Run(); !ok) return tl::unexpected(ok.error());
    return writer->Changes() > 0;
  }

  Result<bool> Control(const ControlSeen& seen) {
    const auto& c = seen.control;
    auto s = writer->Prepare(
        "INSERT OR IGNORE INTO control(position, job, paused, by, at_ms, reason) "
        "VALUES(?,?,?,?,?,?)");
    if (!s) return tl::unexpected(s.error());
    (*s)->Bind(1, seen.at.ToString()).Bind(2, c.job).Bind(3, int64_t{c.paused});
    (*s)->Bind(4, c.by).Bind(5, Ms(c.at)).Bind(6, c.reason);
    if (auto ok = (*s)->Run(); !ok) return tl::unexpected(ok.error());
    if (writer->Changes() == 0) return false;
    // Records are read in topic order (one partition), so the latest read is the state.
    auto job = writer->Prepare(
        "INSERT INTO jobs(name, paused, paused_by, pause_reason, paused_at_ms) "
        "VALUES(?1,?2,?3,?4,?5) "
        "ON CONFLICT(name) DO UPDATE SET paused=?2, paused_by=?3, pause_reason=?4, "
        "paused_at_ms=?5");
    if (!job) return tl::unexpected(job.error());
    (*job)->Bind(1, c.job).Bind(2, int64_t{c.paused}).Bind(3, c.paused ? c.by : "");
    (*job)->Bind(4, c.paused ? c.reason : "").Bind(5, c.paused ? Ms(c.at) : 0);
    if (auto ok = (*job)->Run(); !ok) return tl::unexpected(ok.error());
    return true;
  }

  // Folds the new attempts of one job into its summary row.
  Status Summarise(const std::string& name,
                   const std::vector<const messages::ResultMessage*>& results) {
    auto get = writer->Prepare(
        "SELECT COALESCE(d.recent, '[]'), runs_total FROM jobs LEFT JOIN job_details d "
        "ON d.job = jobs.name WHERE name=?");
    if (!get) return tl::unexpected(get.error());
    (*get)->Bind(1, name);
    auto row = (*get)->Step();
    if (!row) return tl::unexpected(row.error());
    json recent = json::array();
    int64_t total = 0;
    if (*row) {
      recent = json::parse((*get)->Text(0), nullptr, false);
      if (!recent.is_array()) recent = json::array();
      total = (*get)->Int(1);
    }
    (*get)->Reset();
    const messages::ResultMessage* last = nullptr;
    for (const auto* r : results) {
      ++total;
      const int64_t duration = std::max<int64_t>(0, Ms(r->finished_at) - Ms(r->started_at));
      const json entry = {r->run_id, messages::OutcomeName(r->outcome), Ms(r->started_at),
                          duration};
      auto same = std::find_if(recent.begin(), recent.end(),
                               [&](const json& e) { return e.is_array() && e[0] == r->run_id; });
      if (same != recent.end()) {
        // A later attempt of a run in the strip: the run's outcome is its latest attempt's.
        if ((*same)[2].get<int64_t>() <= Ms(r->started_at)) *same = entry;
      } else {
        recent.push_back(entry);
      }
      if (last == nullptr || r->started_at >= last->started_at) last = r;
    }
    // Oldest first by start: results of different partitions arrive in no global order.
    std::stable_sort(recent.begin(), recent.end(), [](const json& a, const json& b) {
      return a[2].get<int64_t>() < b[2].get<int64_t>();
    });
    while (static_cast<int>(recent.size()) > options.recent_runs) recent.erase(recent.begin());
    int succeeded = 0;
    for (const json& e : recent) succeeded += e[1] == "succeeded";
    const double rate = recent.empty() ? -1.0 : static_cast<double>(succeeded) / recent.size();
    auto put = writer->Prepare(
        "INSERT INTO jobs(name, cluster, last_run_id, last_outcome, last_started_ms, "
        "last_duration_ms, success_rate, runs_total) VALUES(?1,?2,?3,?4,?5,?6,?8,?9) "
        "ON CONFLICT(name) DO UPDATE SET success_rate=?8, runs_total=?9, "
        "last_run_id=CASE WHEN ?5>=last_started_ms THEN ?3 ELSE last_run_id END, "
        "last_outcome=CASE WHEN ?5>=last_started_ms THEN ?4 ELSE last_outcome END, "
        "last_duration_ms=CASE WHEN ?5>=last_started_ms THEN ?6 ELSE last_duration_ms END, "
        "last_started_ms=MAX(last_started_ms, ?5), "
        "cluster=CASE WHEN cluster='' THEN ?2 ELSE cluster END");
    if (!put) return tl::unexpected(put.error());
    (*put)->Bind(1, name).Bind(2, last->cluster).Bind(3, last->run_id);
    (*put)->Bind(4, messages::OutcomeName(last->outcome)).Bind(5, Ms(last->started_at));
    (*put)->Bind(6, std::max<int64_t>(0, Ms(last->finished_at) - Ms(last->started_at)));
    (*put)->Bind(8, rate).Bind(9, total);
    if (auto ok = (*put)->Run(); !ok) return ok;
    auto details = writer->Prepare(
        "INSERT INTO job_details(job, recent) VALUES(?1,?2) ON CONFLICT(job) DO UPDATE SET "
        "recent=?2");
    if (!details) return tl::unexpected(details.error());
    return (*details)->Bind(1, name).Bind(2, recent.dump()).Run();
  }

  Status KeepNewest(const std::string& job, int64_t keep) {
    auto s = writer->Prepare(
        "SELECT scheduled_ms FROM runs WHERE job=? ORDER BY scheduled_ms DESC LIMIT 1 OFFSET ?");
    if (!s) return tl::unexpected(s.error());
    (*s)->Bind(1, job).Bind(2, keep);
    auto row = (*s)->Step();
    if (!row) return tl::unexpected(row.error());
    if (!*row) return {};
    const int64_t cutoff = (*s)->Int(0);
    (*s)->Reset();
    return DeleteRuns("job=? AND scheduled_ms<=?", job, cutoff);
  }

  // Deletes the runs matching `where` (binding `job` when non-empty, then `ms`) and their
  // attempts.
  Status DeleteRuns(const std::string& where, const std::string& job, int64_t ms) {
    for (const std::string& sql :
         {"DELETE FROM attempts WHERE run_id IN (SELECT run_id FROM runs WHERE " + where + ")",
          "DELETE FROM runs WHERE " + where}) {
      auto s = writer->Prepare(sql);
      if (!s) return tl::unexpected(s.error());
      int i = 1;
      if (!job.empty()) (*s)->Bind(i++, job);
      (*s)->Bind(i, ms);
      if (auto ok = (*s)->Run(); !ok) return ok;
    }
    return {};
  }
};

HistoryStore::HistoryStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HistoryStore::~HistoryStore() = default;

Result<std::unique_ptr<HistoryStore>> HistoryStore::Open(const std::string& path,
                                                         StoreOptions options) {
  if (options.recent_runs < 1 || options.recent_runs > 100) {
    return MakeError("recent_runs must be 1..100");
  }
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  impl->options = options;
  auto writer = Database::Open(path, /*read_only=*/false);
  if (!writer) return tl::unexpected(writer.error());
  impl->writer = std::move(*writer);
  if (auto ok = impl->Migrate(); !ok) return MakeError(path + ": " + ok.error().message);
  auto id = impl->DatabaseId();
  if (!id) return MakeError(path + ": " + id.error().message);
  std::unique_ptr<HistoryStore> store(new HistoryStore(std::move(impl)));
  store->database_id_ = std::move(*id);
  return store;
}

Result<size_t> HistoryStore::Apply(const std::vector<Record>& records) {
  Database& db = *impl_->writer;
  if (auto ok = db.Exec("BEGIN IMMEDIATE"); !ok) return Fail<size_t>("begin", ok.error());
  size_t changed = 0;
  std::map<std::string, std::vector<const messages::ResultMessage*>> results_by_job;
  auto rollback = [&](const Error& e) -> Result<size_t> {
    (void)db.Exec("ROLLBACK");
    return Fail<size_t>("history store", e);
  };
  for (const Record& record : records) {
    Result<bool> applied = std::visit(
        [&](const auto& r) -> Result<bool> {
          using T = std::decay_t<decltype(r)>;
          if constexpr (std::is_same_v<T, CatalogUpsert>) return impl_->Upsert(r);
          if constexpr (std::is_same_v<T, CatalogRemoval>) return impl_->Remove(r);
          if constexpr (std::is_same_v<T, TaskSeen>) return impl_->Task(r);
          if constexpr (std::is_same_v<T, ResultSeen>) {
            auto added = impl_->Attempt(r);
            if (added && *added && !r.result.job.empty()) {
              results_by_job[r.result.job].push_back(&r.result);
            }
            return added;
          }
          if constexpr (std::is_same_v<T, DeadSeen>) return impl_->Dead(r);
          if constexpr (std::is_same_v<T, ReplaySeen>) return impl_->Replay(r);
          if constexpr (std::is_same_v<T, ControlSeen>) return impl_->Control(r);
        },
        record);
    if (!applied) return rollback(applied.error());
    changed += *applied ? 1 : 0;
  }
  for (const auto& [job, results] : results_by_job) {
    if (auto ok = impl_->Summarise(job, results); !ok) return rollback(ok.error());
    if (impl_->options.max_runs_per_job > 0) {
      if (auto ok = impl_->KeepNewest(job, impl_->options.max_runs_per_job); !ok) {
        return rollback(ok.error());
      }
    }
  }
  if (auto ok = db.Exec("COMMIT"); !ok) return rollback(ok.error());
  return changed;
}

Result<int64_t> HistoryStore::Prune(int64_t now_ms) {
  if (impl_->options.retention.count() <= 0) return 0;
  const int64_t cutoff =
      now_ms -
      std::chrono::duration_cast<std::chrono::milliseconds>(impl_->options.retention).count();
  Database& db = *impl_->writer;
  if (auto ok = db.Exec("BEGIN IMMEDIATE"); !ok) return Fail<int64_t>("prune", ok.error());
  if (auto ok = impl_->DeleteRuns("scheduled_ms<?", "", cutoff); !ok) {
    (void)db.Exec("ROLLBACK");
    return Fail<int64_t>("prune", ok.error());
  }
  const int64_t deleted = db.Changes();
  for (const char* sql :
       {"DELETE FROM dead WHERE finished_ms<?", "DELETE FROM control WHERE at_ms<?"}) {
    auto s = db.Prepare(sql);
    if (!s || !(*s)->Bind(1, cutoff).Run()) {
      (void)db.Exec("ROLLBACK");
      return MakeError(std::string("prune: ") + db.ErrorMessage());
    }
  }
  if (auto ok = db.Exec("COMMIT"); !ok) return Fail<int64_t>("prune", ok.error());
  return deleted;
}

Result<JobPage> HistoryStore::ListJobs(const JobQuery& q) const {
  auto db = impl_->Read();
  if (!db) return tl::unexpected(db.error());
  // A name search narrow enough for the trigram index starts from its matches.
  std::string jobs = "jobs";
  std::vector<std::string> args;
  if (CodePoints(q.name_contains) >= 3) {
    const std::string phrase = SubstringPhrase(q.name_contains);
    auto probe = (*db)->Prepare("SELECT 1 FROM job_names WHERE job_names MATCH ? LIMIT 1 OFFSET " +
                                std::to_string(kIndexedSearchMax));
    if (!probe) return tl::unexpected(probe.error());
    (*probe)->Bind(1, phrase);
    auto many = (*probe)->Step();
    if (!many) return tl::unexpected(many.error());
    (*probe)->Reset();
    if (!*many) {
      // CROSS JOIN keeps the matches as the outer loop.
      jobs =
          "(SELECT name AS hit FROM job_names WHERE job_names MATCH ?) h CROSS JOIN jobs "
          "ON jobs.name = h.hit";
      args.push_back(phrase);
    }
  }
  // Two forms of the filters: `where` for the count (jobs_catalog covers it), and `page`
  // with unary + on every filtered column, which keeps the planner off the filters' indexes
  // (it would fetch and sort every match): the page walks the sort order's index and stops
  // after `limit` matches.
  std::string where = q.include_removed ? "1" : "in_catalog=1";
  std::string page_where = q.include_removed ? "1" : "+in_catalog=1";
  auto add = [&](const std::string& column, const std::string& test) {
    where += " AND " + column + test;
    page_where += " AND +" + column + test;
  };
  if (!q.name_contains.empty()) {
    where += " AND instr(name, ?)>0";
    page_where += " AND instr(name, ?)>0";
    args.push_back(q.name_contains);
  }
  if (!q.cluster.empty()) {
    add("cluster", "=?");
    args.push_back(q.cluster);
  }
  if (q.outcome == "paused") {
    add("paused", "=1");
  } else if (q.outcome == "never") {
    add("last_outcome", "=''");
  } else if (!q.outcome.empty()) {
    add("last_outcome", "=?");
    args.push_back(q.outcome);
  }
  const char* column = q.sort == JobSort::kCluster       ? "cluster"
                       : q.sort == JobSort::kLastRun     ? "last_started_ms"
                       : q.sort == JobSort::kSuccessRate ? "success_rate"
                                                         : "name";
  const bool by_name = q.sort == JobSort::kName;
  const char* dir = q.descending ? "DESC" : "ASC";
  const char* cmp = q.descending ? "<" : ">";

  JobPage page;
  {
    auto count = (*db)->Prepare("SELECT count(*) FROM " + jobs + " WHERE " + where);
    if (!count) return tl::unexpected(count.error());
    for (size_t i = 0; i < args.size(); ++i) (*count)->Bind(static_cast<int>(i + 1), args[i]);
    auto row = (*count)->Step();
    if (!row) return tl::unexpected(row.error());
    page.total = (*count)->Int(0);
    (*count)->Reset();
  }
  // The definition is left out of list pages: only a job's own page shows it.
  std::string sql =
      "SELECT " + JobColumns(false) + " FROM " + jobs + kDetailsJoin + " WHERE " + page_where;
  json cursor;
  if (!q.cursor.empty()) {
    auto text = Unhex(q.cursor);
    if (text) cursor = json::parse(*text, nullptr, false);
    if (!text || !cursor.is_array() || cursor.size() != 2 || !cursor[1].is_string()) {
      return MakeError("invalid cursor");
    }
    sql += by_name ? std::string(" AND name") + cmp + "?"
                   : std::string(" AND (") + column + ", name)" + cmp + "(?, ?)";
  }
  sql += std::string(" ORDER BY ") + (by_name ? "" : std::string(column) + " " + dir + ", ") +
         "name " + dir + " LIMIT ?";
  auto s = (*db)->Prepare(sql);
  if (!s) return tl::unexpected(s.error());
  int i = 1;
  for (const auto& a : args) (*s)->Bind(i++, a);
  if (!cursor.is_null()) {
    if (!by_name) {
      if (cursor[0].is_number_float()) {
        (*s)->Bind(i++, cursor[0].get<double>());
      } else if (cursor[0].is_number_integer()) {
        (*s)->Bind(i++, cursor[0].get<int64_t>());
      } else if (cursor[0].is_string()) {
        (*s)->Bind(i++, cursor[0].get<std::string>());
      } else {
        return MakeError("invalid cursor");
      }
    }
    (*s)->Bind(i++, cursor[1].get<std::string>());
  }
  const int limit = std::clamp(q.limit, 1, 1000);
  (*s)->Bind(i, int64_t{limit} + 1);
  for (;;) {
    auto row = (*s)->Step();
    if (!row) return tl::unexpected(row.error());
    if (!*row) break;
    page.jobs.push_back(ReadJob(**s));
  }
  if (static_cast<int>(page.jobs.size()) > limit) {
    page.jobs.pop_back();
    const JobSummary& last = page.jobs.back();
    json key = q.sort == JobSort::kCluster       ? json(last.cluster)
               : q.sort == JobSort::kLastRun     ? json(last.last_started_ms)
               : q.sort == JobSort::kSuccessRate ? json(last.success_rate)
                                                 : json(nullptr);
    page.next_cursor = Hex(json::array({key, last.name}).dump());
  }
  return page;
}

Result<std::optional<JobSummary>> HistoryStore::GetJob(const std::string& name) const {
  auto db = impl_->Read();
  if (!db) return tl::unexpected(db.error());
  auto s =
      (*db)->Prepare("SELECT " + JobColumns(true) + " FROM jobs" + kDetailsJoin + " WHERE name=?");
  if (!s) return tl::unexpected(s.error());
  (*s)->Bind(1, name);
  auto row = (*s)->Step();
  if (!row) return tl::unexpected(row.error());
  if (!*row) return std::optional<JobSummary>();
  JobSummary job = ReadJob(**s);
  (*s)->Reset();
  return std::optional<JobSummary>(std::move(job));
}

namespace {

// Fills in the attempts of `runs`, in the order they were read.
Status AddAttempts(Database& db, std::vector<Run>& runs) {
  auto s = db.Prepare(
      "SELECT attempt, worker, queue, started_ms, finished_ms, exit_code, signal, outcome, "
      "output_tail, output_bytes, error FROM attempts WHERE run_id=? "
      "ORDER BY kafka_partition, kafka_offset");
  if (!s) return tl::unexpected(s.error());
  for (Run& run : runs) {
    (*s)->Reset().Bind(1, run.run_id);
    for (;;) {
      auto row = (*s)->Step();
      if (!row) return tl::unexpected(row.error());
      if (!*row) break;
      const Statement& r = **s;
      run.attempts.push_back({static_cast<int>(r.Int(0)), r.Text(1), r.Text(2), r.Int(3), r.Int(4),
                              r.OptionalInt(5), r.OptionalInt(6), r.Text(7), r.Text(8), r.Int(9),
                              r.Text(10)});
    }
    // Retries and replays arrive in time order on one run's results partition, but a
    // replay's attempt 1 comes after the original's attempt N: order by start.
    std::stable_sort(
        run.attempts.begin(), run.attempts.end(),
        [](const Attempt& a, const Attempt& b) { return a.started_ms < b.started_ms; });
  }
  return {};
}

}  // namespace

Result<RunPage> HistoryStore::ListRuns(const std::string& job, int limit,
                                       const std::string& before) const {
  auto db = impl_->Read();
  if (!db) return tl::unexpected(db.error());
  limit = std::clamp(limit, 1, 1000);
  std::string sql = std::string("SELECT ") + kRunColumns + " FROM runs WHERE job=?";
  int64_t before_ms = 0;
  std::string before_id;
  if (!before.empty()) {
    const auto dot = before.find('.');
    if (dot == std::string::npos || dot == 0) return MakeError("invalid cursor");
    try {
      size_t used = 0;
      before_ms = std::stoll(before.substr(0, dot), &used);
      if (used != dot) return MakeError("invalid cursor");
    } catch (const std::exception&) {
      return MakeError("invalid cursor");
    }
    before_id = before.substr(dot + 1);
    sql += " AND (scheduled_ms, run_id) < (?, ?)";
  }
  sql += " ORDER BY scheduled_ms DESC, run_id DESC LIMIT ?";
  auto s = (*db)->Prepare(sql);
  if (!s) return tl::unexpected(s.error());
  int i = 1;
  (*s)->Bind(i++, job);
  if (!before.empty()) {
    (*s)->Bind(i, before_ms).Bind(i + 1, before_id);
    i += 2;
  }
  (*s)->Bind(i, int64_t{limit} + 1);
  RunPage page;
  for (;;) {
    auto row = (*s)->Step();
    if (!row) return tl::unexpected(row.error());
    if (!*row) break;
    page.runs.push_back(ReadRun(**s));
  }
  if (static_cast<int>(page.runs.size()) > limit) {
    page.runs.pop_back();
    page.next_cursor =
        std::to_string(page.runs.back().scheduled_ms) + "." + page.runs.back().run_id;
  }
  if (auto ok = AddAttempts(**db, page.runs); !ok) return tl::unexpected(ok.error());
  return page;
}

Result<std::optional<Run>> HistoryStore::GetRun(const std::string& run_id) const {
  auto db = impl_->Read();
  if (!db) return tl::unexpected(db.error());
  auto s = (*db)->Prepare(std::string("SELECT ") + kRunColumns + " FROM runs WHERE run_id=?");
  if (!s) return tl::unexpected(s.error());
  (*s)->Bind(1, run_id);
  auto row = (*s)->Step();
  if (!row) return tl::unexpected(row.error());
  if (!*row) return std::optional<Run>();
  std::vector<Run> runs = {ReadRun(**s)};
  (*s)->Reset();
  if (auto ok = AddAttempts(**db, runs); !ok) return tl::unexpected(ok.error());
  return std::optional<Run>(std::move(runs[0]));
}

Result<std::vector<Run>> HistoryStore::RunSeries(const std::string& job, int limit) const {
  auto db = impl_->Read();
  if (!db) return tl::unexpected(db.error());
  auto s = (*db)->Prepare(std::string("SELECT ") + kRunColumns +
                          " FROM runs WHERE job=? ORDER BY scheduled_ms DESC, run_id DESC LIMIT ?");
  if (!s) return tl::unexpected(s.error());
  (*s)->Bind(1, job).Bind(2, int64_t{std::clamp(limit, 1, 10'000)});
  std::vector<Run> runs;
  for (;;) {
    auto row = (*s)->Step();
    if (!row) return tl::unexpected(row.error());
    if (!*row) break;
    runs.push_back(ReadRun(**s));
  }
  return runs;
}

Result<std::vector<DeadEntry>> HistoryStore::ListDead(const std::string& cluster, int limit) const {
  auto db = impl_->Read();
  if (!db) return tl::unexpected(db.error());
  auto s = (*db)->Prepare(
      "SELECT position, cluster, run_id, job, reason, last_outcome, finished_ms, letter, "
      "replayed_at_ms, replayed_by FROM dead WHERE ?1='' OR cluster=?1 "
      "ORDER BY finished_ms DESC, position DESC LIMIT ?2");
  if (!s) return tl::unexpected(s.error());
  (*s)->Bind(1, cluster).Bind(2, int64_t{std::clamp(limit, 1, 1000)});
  std::vector<DeadEntry> out;
  for (;;) {
    auto row = (*s)->Step();
    if (!row) return tl::unexpected(row.error());
    if (!*row) break;
    out.push_back(ReadDead(**s));
  }
  return out;
}

Result<std::optional<DeadEntry>> HistoryStore::GetDead(const std::string& cluster,
                                                       const std::string& run_id) const {
  auto db = impl_->Read();
  if (!db) return tl::unexpected(db.error());
  // The latest dead letter of the run: a replayed run that failed again has two.
  auto s = (*db)->Prepare(
      "SELECT position, cluster, run_id, job, reason, last_outcome, finished_ms, letter, "
      "replayed_at_ms, replayed_by FROM dead WHERE cluster=? AND run_id=? "
      "ORDER BY finished_ms DESC LIMIT 1");
  if (!s) return tl::unexpected(s.error());
  (*s)->Bind(1, cluster).Bind(2, run_id);
  auto row = (*s)->Step();
  if (!row) return tl::unexpected(row.error());
  if (!*row) return std::optional<DeadEntry>();
  DeadEntry d = ReadDead(**s);
  (*s)->Reset();
  return std::optional<DeadEntry>(std::move(d));
}

Result<std::vector<ControlEntry>> HistoryStore::ControlHistory(const std::string& job,
                                                               int limit) const {
  auto db = impl_->Read();
  if (!db) return tl::unexpected(db.error());
  auto s = (*db)->Prepare(
      "SELECT job, paused, by, at_ms, reason FROM control WHERE ?1='' OR job=?1 "
      "ORDER BY at_ms DESC, position DESC LIMIT ?2");
  if (!s) return tl::unexpected(s.error());
  (*s)->Bind(1, job).Bind(2, int64_t{std::clamp(limit, 1, 1000)});
  std::vector<ControlEntry> out;
  for (;;) {
    auto row = (*s)->Step();
    if (!row) return tl::unexpected(row.error());
    if (!*row) break;
    out.push_back({(*s)->Text(0), (*s)->Int(1) != 0, (*s)->Text(2), (*s)->Int(3), (*s)->Text(4)});
  }
  return out;
}

Result<std::vector<std::pair<std::string, int64_t>>> HistoryStore::PausedByCluster() const {
  auto db = impl_->Read();
  if (!db) return tl::unexpected(db.error());
  auto s = (*db)->Prepare(
      "SELECT cluster, count(*) FROM jobs WHERE paused=1 AND in_catalog=1 GROUP BY cluster");
  if (!s) return tl::unexpected(s.error());
  std::vector<std::pair<std::string, int64_t>> out;
  for (;;) {
    auto row = (*s)->Step();
    if (!row) return tl::unexpected(row.error());
    if (!*row) break;
    out.emplace_back((*s)->Text(0), (*s)->Int(1));
  }
  return out;
}

}  // namespace krond::store
