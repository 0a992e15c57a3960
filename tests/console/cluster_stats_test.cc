#include "console/cluster_stats.h"

#include <gtest/gtest.h>

namespace krond::console {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const SystemTime kNow = SystemTime(seconds(1'773'000'000));

messages::ResultMessage Result(const char* cluster, const char* worker, int ago_s, int late_ms,
                               messages::Outcome outcome, int attempt = 1) {
  messages::ResultMessage r;
  r.cluster = cluster;
  r.worker = worker;
  r.attempt = attempt;
  r.scheduled_at = kNow - seconds(ago_s);
  r.started_at = r.scheduled_at + milliseconds(late_ms);
  r.finished_at = r.started_at + milliseconds(10);
  r.outcome = outcome;
  return r;
}

TEST(ClusterStatsTest, RatesWorkersAndLatenessOverTheWindow) {
  ClusterStats stats(seconds(100));
  for (int i = 0; i < 99; ++i)
    stats.Add(Result("a", "w1", i % 50, 3, messages::Outcome::kSucceeded), kNow);
  stats.Add(Result("a", "w2", 10, 700, messages::Outcome::kFailed), kNow);
  stats.Add(Result("a", "w3", 500, 1, messages::Outcome::kFailed), kNow);  // outside the window
  stats.Add(Result("b", "w9", 5, 1, messages::Outcome::kSkipped), kNow);
  auto health = stats.Health(kNow);
  ASSERT_EQ(health.size(), 2u);
  const ClusterHealth& a = health[0];
  EXPECT_EQ(a.cluster, "a");
  EXPECT_EQ(a.workers, (std::vector<std::string>{"w1", "w2"}));
  EXPECT_EQ(a.attempts, 100);
  EXPECT_DOUBLE_EQ(a.runs_per_second, 1.0);
  EXPECT_DOUBLE_EQ(a.failure_rate, 0.01);
  EXPECT_EQ(a.lateness_p99_ms, 5);  // 99 of 100 within the 5 ms bucket
  EXPECT_DOUBLE_EQ(health[1].failure_rate, 0.0) << "skipped runs are not failures";
  EXPECT_EQ(health[1].lateness_p99_ms, -1);
  // Later, everything has left the window.
  auto later = stats.Health(kNow + seconds(200));
  EXPECT_EQ(later[0].attempts, 0);
  EXPECT_TRUE(later[0].workers.empty());
}

}  // namespace
}  // namespace krond::console
