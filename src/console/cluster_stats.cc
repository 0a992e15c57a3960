#include "console/cluster_stats.h"

#include <algorithm>

namespace krond::console {
namespace {

int64_t Seconds(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

ClusterStats::ClusterStats(std::chrono::seconds window) : window_(window) {}

void ClusterStats::Add(const messages::ResultMessage& r, SystemTime now) {
  const int64_t second = Seconds(r.finished_at);
  const int64_t now_s = Seconds(now);
  const int64_t size = window_.count();
  if (second <= now_s - size || second > now_s + 60 || r.cluster.empty()) return;
  std::lock_guard lock(mu_);
  Cluster& c = clusters_[r.cluster];
  if (c.buckets.empty()) c.buckets.resize(static_cast<size_t>(size));
  Bucket& b = c.buckets[static_cast<size_t>(((second % size) + size) % size)];
  if (b.second != second) b = Bucket{second};
  ++b.attempts;
  if (r.outcome != messages::Outcome::kSkipped) {
    ++b.counted;
    b.failures += r.outcome != messages::Outcome::kSucceeded;
  }
  if (r.attempt == 1 && r.outcome != messages::Outcome::kSkipped &&
      r.outcome != messages::Outcome::kInvalid) {
    const int64_t late = std::max<int64_t>(0, (r.started_at - r.scheduled_at).count());
    const auto* bound = std::lower_bound(kLatenessBoundsMs.begin(), kLatenessBoundsMs.end(), late);
    ++b.lateness[static_cast<size_t>(bound - kLatenessBoundsMs.begin())];
  }
  if (!r.worker.empty()) {
    int64_t& seen = c.worker_seen[r.worker];
    seen = std::max(seen, second);
  }
}

std::vector<ClusterHealth> ClusterStats::Health(SystemTime now) const {
  const int64_t now_s = Seconds(now);
  const int64_t oldest = now_s - window_.count() + 1;
  std::lock_guard lock(mu_);
  std::vector<ClusterHealth> out;
  for (const auto& [name, c] : clusters_) {
    ClusterHealth h;
    h.cluster = name;
    int64_t failures = 0, counted = 0;
    std::array<int64_t, kLatenessBoundsMs.size() + 1> lateness{};
    for (const Bucket& b : c.buckets) {
      if (b.second < oldest || b.second > now_s + 60) continue;
      h.attempts += b.attempts;
      failures += b.failures;
      counted += b.counted;
      for (size_t i = 0; i < lateness.size(); ++i) lateness[i] += b.lateness[i];
    }
    for (const auto& [worker, seen] : c.worker_seen) {
      if (seen >= oldest) h.workers.push_back(worker);
    }
    h.runs_per_second = static_cast<double>(h.attempts) / static_cast<double>(window_.count());
    h.failure_rate = counted > 0 ? static_cast<double>(failures) / static_cast<double>(counted) : 0;
    int64_t total = 0;
    for (int64_t n : lateness) total += n;
    if (total > 0) {
      const int64_t rank = (total * 99 + 99) / 100;  // ceil(0.99 * total)
      int64_t seen = 0;
      for (size_t i = 0; i < lateness.size(); ++i) {
        seen += lateness[i];
        if (seen >= rank) {
          h.lateness_p99_ms = i < kLatenessBoundsMs.size() ? kLatenessBoundsMs[i] : 60'001;
          break;
        }
      }
    }
    out.push_back(std::move(h));
  }
  return out;
}

}  // namespace krond::console
