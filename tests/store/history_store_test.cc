#include "store/history_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <set>

#include "common/time_format.h"

namespace krond::store {
namespace {

namespace fs = std::filesystem;
using messages::Outcome;

SystemTime At(int seconds) { return SystemTime(std::chrono::seconds(1'773'000'000 + seconds)); }
int64_t Ms(int seconds) { return At(seconds).time_since_epoch().count(); }

class HistoryStoreTest : public ::testing::Test {
 protected:
  HistoryStoreTest() {
    dir_ = fs::temp_directory_path() /
           ("krond-store-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  ~HistoryStoreTest() override { fs::remove_all(dir_); }

  std::unique_ptr<HistoryStore> Open(StoreOptions options = {}, const char* name = "h.db") {
    auto store = HistoryStore::Open((dir_ / name).string(), options);
    EXPECT_TRUE(store) << (store ? "" : store.error().message);
    return store ? std::move(*store) : nullptr;
  }

  static Record Catalog(const std::string& job, const std::string& cluster = "a") {
    messages::CatalogEntry e;
    e.job = job;
    e.cluster = cluster;
    e.schedule = "* * * * *";
    e.timezone = "UTC";
    e.description = "every minute, UTC";
    e.task.job = job;
    e.task.cluster = cluster;
    e.task.command = "true";
    return CatalogUpsert{e, messages::Encode(e)};
  }
  static Record Task(const std::string& job, const std::string& run, int at,
                     messages::Trigger trigger = messages::Trigger::kSchedule) {
    messages::TaskMessage t;
    t.run_id = run;
    t.job = job;
    t.cluster = "a";
    t.scheduled_at = t.produced_at = At(at);
    t.trigger = trigger;
    t.requested_by = trigger == messages::Trigger::kSchedule ? "" : "alice";
    return TaskSeen{t, false};
  }
  Record Result(const std::string& job, const std::string& run, int at, Outcome outcome,
                int attempt = 1) {
    messages::ResultMessage r;
    r.run_id = run;
    r.job = job;
    r.cluster = "a";
    r.attempt = attempt;
    r.worker = "w:1";
    r.queue = attempt == 1 ? "main" : "retry";
    r.scheduled_at = At(at);
    r.started_at = At(at) + std::chrono::milliseconds(100 * attempt);
    r.finished_at = r.started_at + std::chrono::milliseconds(250);
    r.outcome = outcome;
    r.exit_code = outcome == Outcome::kSucceeded ? 0 : 1;
    r.output_tail = "out of " + run;
    return ResultSeen{r, {"t.results", 0, next_offset_++}};
  }

  fs::path dir_;
  int64_t next_offset_ = 0;
};

TEST_F(HistoryStoreTest, CreatesAVersionedSchemaAndKeepsItsId) {
  std::string id;
  {
    auto store = Open();
    ASSERT_TRUE(store);
    id = store->database_id();
    EXPECT_EQ(id.size(), 32u);
  }
  auto again = Open();
  ASSERT_TRUE(again);
  EXPECT_EQ(again->database_id(), id);
  // A file of a newer schema is refused rather than misread.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ / "h.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version=99", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  again.reset();
  auto newer = HistoryStore::Open((dir_ / "h.db").string());
  ASSERT_FALSE(newer);
  EXPECT_NE(newer.error().message.find("schema version 99"), std::string::npos);
}

// Rewrites the file at `path` (closed) with `sql`.
void Rewrite(const fs::path& path, const char* sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* error = nullptr;
  const int rc = sqlite3_exec(db, sql, nullptr, nullptr, &error);
  EXPECT_EQ(rc, SQLITE_OK) << (error ? error : "");
  sqlite3_free(error);
  sqlite3_close(db);
}

int64_t UserVersion(const fs::path& path) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* s = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, nullptr), SQLITE_OK);
  EXPECT_EQ(sqlite3_step(s), SQLITE_ROW);
  const int64_t version = sqlite3_column_int64(s, 0);
  sqlite3_finalize(s);
  sqlite3_close(db);
  return version;
}

// Files of older schemas, made from a current one by undoing the later migrations: schema 1
// had the definition and recent outcomes in the jobs table (and, in later builds, the
// jobs_catalog index); development builds wrote schema 2's layout as version 1.
constexpr const char* kBackToSchema1 = R"sql(
  CREATE TABLE wide AS SELECT jobs.*, d.definition, d.recent FROM jobs JOIN job_details d
    ON d.job = jobs.name;
  DROP TABLE jobs; DROP TABLE job_details; DROP TABLE job_names;
  ALTER TABLE wide RENAME TO jobs;
  CREATE INDEX jobs_by_cluster ON jobs(cluster, name);
  PRAGMA user_version=1;)sql";
constexpr const char* kBackToSchema1WithCatalogIndex = R"sql(
  CREATE INDEX jobs_catalog ON jobs(in_catalog, cluster, last_outcome, paused, name);)sql";
constexpr const char* kBackToNarrowSchema1 = R"sql(
  DROP TABLE job_names; DROP TRIGGER IF EXISTS job_names_insert; PRAGMA user_version=1;)sql";

TEST_F(HistoryStoreTest, MigratesOlderSchemasKeepingTheHistory) {
  for (const auto& downgrade :
       {std::string(kBackToSchema1), std::string(kBackToSchema1) + kBackToSchema1WithCatalogIndex,
        std::string(kBackToNarrowSchema1)}) {
    SCOPED_TRACE(downgrade);
    const fs::path path = dir_ / "h.db";
    fs::remove(path);
    std::string id, definition;
    {
      auto store = Open();
      ASSERT_TRUE(store);
      ASSERT_TRUE(
          store->Apply({Catalog("backup"), Catalog("report", "b"), Task("backup", "r1", 0),
                        Result("backup", "r1", 0, Outcome::kSucceeded), Task("backup", "r2", 60),
                        Result("backup", "r2", 60, Outcome::kFailed)}));
      id = store->database_id();
      definition = (*store->GetJob("backup"))->definition;
      ASSERT_FALSE(definition.empty());
    }
    Rewrite(path, downgrade.c_str());
    ASSERT_EQ(UserVersion(path), 1);

    auto store = Open();
    ASSERT_TRUE(store);
    EXPECT_EQ(UserVersion(path), HistoryStore::kSchemaVersion);
    EXPECT_EQ(store->database_id(), id);
    auto job = store->GetJob("backup");
    ASSERT_TRUE(job && *job);
    EXPECT_EQ((*job)->definition, definition);
    EXPECT_EQ((*job)->last_outcome, "failed");
    EXPECT_EQ((*job)->runs_total, 2);
    ASSERT_EQ((*job)->recent.size(), 2u);
    EXPECT_DOUBLE_EQ((*job)->success_rate, 0.5);
    EXPECT_EQ(store->ListJobs({.cluster = "b"})->total, 1);
    EXPECT_EQ(store->ListRuns("backup", 50, "")->runs.size(), 2u);
    // The names from before the migration are in the search index, and new ones join them.
    EXPECT_EQ(store->ListJobs({.name_contains = "ackup"})->total, 1);
    ASSERT_TRUE(store->Apply({Catalog("backup-2")}));
    EXPECT_EQ(store->ListJobs({.name_contains = "ackup"})->total, 2);
  }
}

TEST_F(HistoryStoreTest, SummarisesEachJobOnIngestAndIgnoresRecordsReadTwice) {
  auto store = Open({.recent_runs = 3});
  std::vector<Record> records = {
      Catalog("backup"),         Catalog("report", "b"),
      Task("backup", "r1", 0),   Result("backup", "r1", 0, Outcome::kSucceeded),
      Task("backup", "r2", 60),  Result("backup", "r2", 60, Outcome::kFailed),
      Task("backup", "r3", 120), Result("backup", "r3", 120, Outcome::kSucceeded),
      Task("backup", "r4", 180), Result("backup", "r4", 180, Outcome::kSucceeded)};
  auto applied = store->Apply(records);
  ASSERT_TRUE(applied) << applied.error().message;
  EXPECT_EQ(*applied, records.size());
  auto again = store->Apply(records);
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, 0u) << "a topic read twice (a rebuild, a redelivery) adds nothing";

  auto job = store->GetJob("backup");
  ASSERT_TRUE(job && *job);
  const JobSummary& j = **job;
  EXPECT_TRUE(j.in_catalog);
  EXPECT_EQ(j.description, "every minute, UTC");
  EXPECT_EQ(j.last_run_id, "r4");
  EXPECT_EQ(j.last_outcome, "succeeded");
  EXPECT_EQ(j.last_started_ms, Ms(180) + 100);
  EXPECT_EQ(j.last_duration_ms, 250);
  EXPECT_EQ(j.runs_total, 4);
  ASSERT_EQ(j.recent.size(), 3u);
  EXPECT_EQ(j.recent[0].run_id, "r2");
  EXPECT_EQ(j.recent[0].outcome, "failed");
  EXPECT_DOUBLE_EQ(j.success_rate, 2.0 / 3.0);
  EXPECT_FALSE(*store->GetJob("nope"));
}

TEST_F(HistoryStoreTest, ARetriedRunCountsOnceWithItsLatestOutcome) {
  auto store = Open();
  messages::TaskMessage retry;
  retry.run_id = "r1";
  retry.job = "backup";
  retry.produced_at = At(0) + std::chrono::milliseconds(400);
  ASSERT_TRUE(
      store->Apply({Catalog("backup"), Task("backup", "r1", 0),
                    Result("backup", "r1", 0, Outcome::kFailed, 1), TaskSeen{retry, true}}));
  EXPECT_EQ((*store->GetRun("r1"))->status, "retrying");
  ASSERT_TRUE(store->Apply({Result("backup", "r1", 0, Outcome::kSucceeded, 2)}));
  auto run = store->GetRun("r1");
  ASSERT_TRUE(run && *run);
  EXPECT_EQ((*run)->status, "succeeded");
  ASSERT_EQ((*run)->attempts.size(), 2u);
  EXPECT_EQ((*run)->attempts[0].outcome, "failed");
  EXPECT_EQ((*run)->attempts[1].queue, "retry");
  EXPECT_EQ((*run)->attempts[1].output_tail, "out of r1");
  auto job = store->GetJob("backup");
  ASSERT_EQ((*job)->recent.size(), 1u);
  EXPECT_EQ((*job)->recent[0].outcome, "succeeded");
  EXPECT_DOUBLE_EQ((*job)->success_rate, 1.0);
}

TEST_F(HistoryStoreTest, RunsArePagedNewestFirstByKeyset) {
  auto store = Open();
  std::vector<Record> records = {Catalog("j")};
  for (int i = 0; i < 25; ++i) {
    records.push_back(Task("j", "run-" + std::to_string(100 + i), i * 60,
                           i == 24 ? messages::Trigger::kManual : messages::Trigger::kSchedule));
    if (i % 2 == 0)
      records.push_back(Result("j", "run-" + std::to_string(100 + i), i * 60, Outcome::kSucceeded));
  }
  ASSERT_TRUE(store->Apply(records));
  std::vector<std::string> seen;
  std::string cursor;
  int pages = 0;
  do {
    auto page = store->ListRuns("j", 10, cursor);
    ASSERT_TRUE(page) << page.error().message;
    for (const store::Run& r : page->runs) seen.push_back(r.run_id);
    cursor = page->next_cursor;
    ++pages;
  } while (!cursor.empty());
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(seen.size(), 25u);
  EXPECT_EQ(seen.front(), "run-124");
  EXPECT_EQ(seen.back(), "run-100");
  auto first = store->ListRuns("j", 2, "");
  EXPECT_EQ(first->runs[0].trigger, "manual");
  EXPECT_EQ(first->runs[0].requested_by, "alice");
  EXPECT_EQ(first->runs[0].status, "succeeded");
  EXPECT_EQ(first->runs[1].status, "pending");
  EXPECT_TRUE(first->runs[1].attempts.empty());
  EXPECT_FALSE(store->ListRuns("j", 10, "garbage"));
  EXPECT_FALSE(store->ListRuns("j", 10, "12x.run"));
}

TEST_F(HistoryStoreTest, JobsAreFilteredSortedAndPaged) {
  auto store = Open();
  std::vector<Record> records;
  for (int i = 0; i < 30; ++i) {
    const std::string name = "job-" + std::to_string(10 + i);
    records.push_back(Catalog(name, i % 3 == 0 ? "b" : "a"));
    records.push_back(Result(name, "r" + std::to_string(i), i,
                             i % 5 == 0 ? Outcome::kFailed : Outcome::kSucceeded));
  }
  records.push_back(Catalog("never-ran"));
  ASSERT_TRUE(store->Apply(records));
  ASSERT_TRUE(
      store->Apply({ControlSeen{{"job-12", true, "alice", At(5), "fixing"}, {"t.control", 0, 0}}}));

  auto all = store->ListJobs({.limit = 1000});
  ASSERT_TRUE(all) << all.error().message;
  EXPECT_EQ(all->total, 31);
  EXPECT_EQ(store->ListJobs({.cluster = "b"})->total, 10);
  EXPECT_EQ(store->ListJobs({.outcome = "failed"})->total, 6);
  EXPECT_EQ(store->ListJobs({.outcome = "paused"})->jobs.at(0).name, "job-12");
  EXPECT_EQ(store->ListJobs({.outcome = "never"})->jobs.at(0).name, "never-ran");
  EXPECT_EQ(store->ListJobs({.name_contains = "-2"})->total, 10);

  // Every sort pages through every job exactly once, in order.
  for (JobSort sort :
       {JobSort::kName, JobSort::kCluster, JobSort::kLastRun, JobSort::kSuccessRate}) {
    for (bool descending : {false, true}) {
      std::vector<std::string> names;
      std::string cursor;
      do {
        auto page =
            store->ListJobs({.sort = sort, .descending = descending, .limit = 7, .cursor = cursor});
        ASSERT_TRUE(page) << page.error().message;
        for (const auto& j : page->jobs) names.push_back(j.name);
        cursor = page->next_cursor;
      } while (!cursor.empty());
      EXPECT_EQ(names.size(), 31u);
      EXPECT_EQ(std::set<std::string>(names.begin(), names.end()).size(), 31u);
    }
  }
  auto latest = store->ListJobs({.sort = JobSort::kLastRun, .descending = true, .limit = 1});
  EXPECT_EQ(latest->jobs.at(0).name, "job-39");
  EXPECT_FALSE(store->ListJobs({.cursor = "zz"}));

  // A job removed from the catalog leaves the list but keeps its history.
  ASSERT_TRUE(store->Apply({CatalogRemoval{"job-10"}}));
  EXPECT_EQ(store->ListJobs({})->total, 30);
  EXPECT_TRUE(*store->GetJob("job-10"));
}

// Searches narrow enough for the trigram index and broader ones (which walk the sort
// order) must both give every match, and only matches, in order.
TEST_F(HistoryStoreTest, NameSearchFindsEverySubstringWhateverItsBreadth) {
  auto store = Open();
  std::vector<std::string> names = {"we\"ird-job", "nightly-backup", "日本語ジョブ", "ab"};
  for (int i = 0; i < 2500; ++i) {
    char name[16];
    std::snprintf(name, sizeof name, "job-%04d", i);
    names.push_back(name);
  }
  std::vector<Record> records;
  for (size_t i = 0; i < names.size(); ++i) {
    records.push_back(Catalog(names[i], i % 2 ? "a" : "b"));
    records.push_back(
        Result(names[i], "r" + std::to_string(i), static_cast<int>(i) % 600, Outcome::kSucceeded));
  }
  ASSERT_TRUE(store->Apply(records));

  for (const std::string search :
       {"job-", "job-0", "b-01", "job-2499", "ob", "ird\"", "\"", "本語ジ", "ab", "JOB", "zzz"}) {
    SCOPED_TRACE(search);
    std::set<std::string> expected;
    for (const auto& n : names) {
      if (n.find(search) != std::string::npos) expected.insert(n);
    }
    for (JobSort sort : {JobSort::kName, JobSort::kLastRun}) {
      std::vector<std::string> found;
      std::string cursor;
      int64_t total = -1;
      do {
        auto page = store->ListJobs(
            {.name_contains = search, .sort = sort, .limit = 400, .cursor = cursor});
        ASSERT_TRUE(page) << page.error().message;
        total = page->total;
        for (const auto& j : page->jobs) found.push_back(j.name);
        cursor = page->next_cursor;
      } while (!cursor.empty());
      EXPECT_EQ(total, static_cast<int64_t>(expected.size()));
      EXPECT_EQ(std::set<std::string>(found.begin(), found.end()), expected);
      EXPECT_EQ(found.size(), expected.size()) << "a job on two pages";
      if (sort == JobSort::kName) {
        EXPECT_TRUE(std::is_sorted(found.begin(), found.end()));
      }
    }
  }
  // Filters apply to indexed matches too.
  EXPECT_EQ(store->ListJobs({.name_contains = "job-0", .cluster = "a"})->total, 500);
}

TEST_F(HistoryStoreTest, DeadLettersReplaysAndTheAuditTrail) {
  auto store = Open();
  messages::DeadLetter d;
  d.task = messages::TaskMessage{};
  d.task->run_id = "r1";
  d.task->job = "backup";
  d.task->cluster = "a";
  d.reason = "attempts exhausted (1/1)";
  d.last_result.run_id = "r1";
  d.last_result.outcome = Outcome::kFailed;
  d.last_result.finished_at = At(1);
  ASSERT_TRUE(store->Apply({Catalog("backup"), Task("backup", "r1", 0),
                            DeadSeen{d, messages::Encode(d), {"t.dead.a", 1, 7}}}));
  EXPECT_EQ((*store->GetRun("r1"))->status, "dead");
  auto dead = store->ListDead("a", 10);
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ((*dead)[0].position, "t.dead.a[1]@7");
  EXPECT_EQ((*dead)[0].reason, "attempts exhausted (1/1)");
  EXPECT_TRUE(store->ListDead("b", 10)->empty());
  ASSERT_TRUE(store->Apply({ReplaySeen{{"t.dead.a[1]@7", "r1", At(9), "carol"}}}));
  auto entry = store->GetDead("a", "r1");
  ASSERT_TRUE(entry && *entry);
  EXPECT_EQ((*entry)->replayed_by, "carol");

  ASSERT_TRUE(
      store->Apply({ControlSeen{{"backup", true, "alice", At(10), "db work"}, {"t.control", 0, 0}},
                    ControlSeen{{"backup", false, "bob", At(20), ""}, {"t.control", 0, 1}}}));
  auto trail = store->ControlHistory("backup", 10);
  ASSERT_EQ(trail->size(), 2u);
  EXPECT_EQ((*trail)[0].by, "bob");
  EXPECT_FALSE((*trail)[0].paused);
  EXPECT_EQ((*trail)[1].reason, "db work");
  EXPECT_FALSE((*store->GetJob("backup"))->paused);
}

TEST_F(HistoryStoreTest, RetentionByAgeAndByCount) {
  auto store = Open({.retention = std::chrono::hours(1), .max_runs_per_job = 3});
  std::vector<Record> records = {Catalog("j")};
  for (int i = 0; i < 5; ++i) {
    records.push_back(Result("j", "r" + std::to_string(i), i * 600, Outcome::kSucceeded));
  }
  ASSERT_TRUE(store->Apply(records));
  EXPECT_EQ(store->ListRuns("j", 100, "")->runs.size(), 3u);
  auto pruned = store->Prune(Ms(2400) + 3'600'000 - 1);  // only r4 is younger than an hour
  ASSERT_TRUE(pruned) << pruned.error().message;
  auto left = store->ListRuns("j", 100, "");
  ASSERT_EQ(left->runs.size(), 1u);
  EXPECT_EQ(left->runs[0].run_id, "r4");
  EXPECT_EQ(left->runs[0].attempts.size(), 1u);
}

TEST_F(HistoryStoreTest, ARebuiltStoreServesTheSameHistory) {
  std::vector<Record> records = {Catalog("j")};
  for (int i = 0; i < 10; ++i) {
    records.push_back(Task("j", "r" + std::to_string(i), i));
    records.push_back(
        Result("j", "r" + std::to_string(i), i, i == 3 ? Outcome::kFailed : Outcome::kSucceeded));
  }
  auto first = Open({}, "first.db");
  ASSERT_TRUE(first->Apply(records));
  // Read in two batches, as a new consumer would.
  auto rebuilt = Open({}, "rebuilt.db");
  const std::vector<Record> head(records.begin(), records.begin() + 9);
  const std::vector<Record> tail(records.begin() + 9, records.end());
  ASSERT_TRUE(rebuilt->Apply(head));
  ASSERT_TRUE(rebuilt->Apply(tail));
  EXPECT_NE(first->database_id(), rebuilt->database_id());
  auto a = first->ListRuns("j", 50, "");
  auto b = rebuilt->ListRuns("j", 50, "");
  ASSERT_EQ(a->runs.size(), b->runs.size());
  for (size_t i = 0; i < a->runs.size(); ++i) {
    EXPECT_EQ(a->runs[i].run_id, b->runs[i].run_id);
    EXPECT_EQ(a->runs[i].status, b->runs[i].status);
  }
  EXPECT_DOUBLE_EQ((*first->GetJob("j"))->success_rate, (*rebuilt->GetJob("j"))->success_rate);
}

}  // namespace
}  // namespace krond::store
