#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "messages/run_messages.h"

// Live health per cluster for GET /api/v1/health, from the results the ingester reads: a
// sliding window of per-second buckets, so memory does not grow with the result rate.
namespace krond::console {

struct ClusterHealth {
  std::string cluster;
  std::vector<std::string> workers;  // seen in the window, sorted
  double runs_per_second = 0;        // attempts finished per second over the window
  double failure_rate = 0;  // share of attempts not succeeded (skipped excluded); 0 without any
  // Start lateness (started_at - scheduled_at) of first attempts: the upper bound of the
  // histogram bucket holding the 99th percentile, in ms; -1 without first attempts.
  int64_t lateness_p99_ms = -1;
  int64_t attempts = 0;  // in the window
};

// Thread-safe.
class ClusterStats {
 public:
  explicit ClusterStats(std::chrono::seconds window = std::chrono::seconds(300));

  // Counts `result` if it finished within the window of `now`.
  void Add(const messages::ResultMessage& result, SystemTime now);
  std::vector<ClusterHealth> Health(SystemTime now) const;
  std::chrono::seconds window() const { return window_; }

  static constexpr std::array<int64_t, 15> kLatenessBoundsMs = {
      1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10'000, 30'000, 60'000};

 private:
  struct Bucket {
    int64_t second = -1;
    int64_t attempts = 0;
    int64_t failures = 0;
    int64_t counted = 0;  // attempts that count for the failure rate (not skipped)
    std::array<int64_t, kLatenessBoundsMs.size() + 1> lateness{};
  };
  struct Cluster {
    std::vector<Bucket> buckets;                 // ring, one per second of the window
    std::map<std::string, int64_t> worker_seen;  // worker -> last second seen
  };

  const std::chrono::seconds window_;
  mutable std::mutex mu_;
  std::map<std::string, Cluster> clusters_;  // guarded by mu_
};

}  // namespace krond::console
