#include "console/requests.h"

#include <gtest/gtest.h>

namespace krond::console {
namespace {

TEST(RequestsTest, Routes) {
  EXPECT_EQ(ParseRoute("GET", "/api/v1/jobs").endpoint, Endpoint::kJobs);
  Route runs = ParseRoute("GET", "/api/v1/jobs/backup/runs");
  EXPECT_EQ(runs.endpoint, Endpoint::kJobRuns);
  EXPECT_EQ(runs.job, "backup");
  EXPECT_EQ(runs.name, "jobs/{job}/runs");
  Route pause = ParseRoute("POST", "/api/v1/jobs/backup/pause");
  EXPECT_EQ(pause.endpoint, Endpoint::kPause);
  EXPECT_TRUE(pause.write);
  EXPECT_EQ(ParseRoute("GET", "/api/v1/jobs/backup/pause").endpoint, Endpoint::kMethodNotAllowed);
  EXPECT_EQ(ParseRoute("POST", "/api/v1/jobs").endpoint, Endpoint::kMethodNotAllowed);
  Route replay = ParseRoute("POST", "/api/v1/dead/cluster-a/r-1/replay");
  EXPECT_EQ(replay.endpoint, Endpoint::kReplay);
  EXPECT_EQ(replay.cluster, "cluster-a");
  EXPECT_EQ(replay.run_id, "r-1");
  EXPECT_EQ(ParseRoute("GET", "/api/v1/runs/r-1").run_id, "r-1");
  for (const char* path :
       {"/", "/api/v1", "/api/v1/", "/api/v2/jobs", "/api/v1/jobs/", "/api/v1/jobs//runs",
        "/api/v1/jobs/a/b/c", "/api/v1/nope", "/api/v1/dead/c/r"}) {
    EXPECT_EQ(ParseRoute("GET", path).endpoint, Endpoint::kNotFound) << path;
  }
}

TEST(RequestsTest, Names) {
  EXPECT_TRUE(ValidName("backup.db-1_x"));
  EXPECT_FALSE(ValidName("Backup"));
  EXPECT_FALSE(ValidName(""));
  EXPECT_FALSE(ValidName(std::string(101, 'a')));
  EXPECT_FALSE(ValidName("a/b"));
}

TEST(RequestsTest, JobQuery) {
  auto q = ParseJobQuery({{"name", "back"},
                          {"cluster", "a"},
                          {"outcome", "failed"},
                          {"sort", "last_run"},
                          {"order", "desc"},
                          {"limit", "20"}});
  ASSERT_TRUE(q) << q.error().message;
  EXPECT_EQ(q->name_contains, "back");
  EXPECT_EQ(q->sort, store::JobSort::kLastRun);
  EXPECT_TRUE(q->descending);
  EXPECT_EQ(q->limit, 20);
  EXPECT_EQ(ParseJobQuery({{"limit", "0"}}).error().message,
            "limit must be a number from 1 to 1000");
  EXPECT_FALSE(ParseJobQuery({{"limit", "5x"}}));
  EXPECT_FALSE(ParseJobQuery({{"sort", "size"}}));
  EXPECT_FALSE(ParseJobQuery({{"order", "up"}}));
  EXPECT_FALSE(ParseJobQuery({{"outcome", "great"}}));
  EXPECT_FALSE(ParseJobQuery({{"cluster", "A B"}}));
  EXPECT_TRUE(ParseJobQuery({{"outcome", "paused"}}));
}

TEST(RequestsTest, Bodies) {
  auto b = ParseBackfill(R"({"from":"2026-03-01T00:00:00Z","to":"2026-03-02T00:00:00Z"})");
  ASSERT_TRUE(b) << b.error().message;
  EXPECT_LT(b->from, b->to);
  EXPECT_EQ(ParseBackfill("{").error().message, "the body is not valid JSON");
  EXPECT_EQ(ParseBackfill("[]").error().message, "the body must be a JSON object");
  EXPECT_FALSE(ParseBackfill(R"({"from":"2026-03-01T00:00:00Z"})"));
  EXPECT_FALSE(ParseBackfill(R"({"from":"yesterday","to":"2026-03-02T00:00:00Z"})"));
  EXPECT_EQ(ParseBackfill(R"({"from":"2026-03-02T00:00:00Z","to":"2026-03-01T00:00:00Z"})")
                .error()
                .message,
            "\"to\" is before \"from\"");
  EXPECT_EQ(*ParseReason(""), "");
  EXPECT_EQ(*ParseReason(R"({"reason":"db migration"})"), "db migration");
  EXPECT_FALSE(ParseReason("{not json"));
  EXPECT_FALSE(ParseReason(R"({"reason":5})"));
  EXPECT_FALSE(ParseReason(R"({"reason":")" + std::string(501, 'x') + "\"}"));
  EXPECT_TRUE(*ParseFlag({{"again", "true"}}, "again"));
  EXPECT_FALSE(ParseFlag({{"again", "yes"}}, "again"));
}

}  // namespace
}  // namespace krond::console
