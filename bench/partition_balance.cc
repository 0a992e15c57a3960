// How evenly per-job routing spreads jobs over a task topic's partitions (`scripts/bench
// balance`, docs/benchmarks.md "Per-job routing"). Every run of a job goes to
// kafka::PartitionForKey(job name, partitions); this counts the jobs per partition for
// 10,000 job names (three naming styles) and prints the most and least loaded partition
// against the mean. Pure computation: no broker, deterministic.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "kafka/kafka.h"

namespace {

std::vector<std::string> Sequential(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back("job-" + std::to_string(i));
  return out;
}

// team-task-n, as a job file of many teams tends to look.
std::vector<std::string> Structured(int n) {
  const char* teams[] = {"billing", "search", "ads",      "infra",  "data",
                         "ml",      "web",    "payments", "growth", "mobile"};
  const char* tasks[] = {"nightly-report", "backup",  "cleanup", "sync",   "export",
                         "import",         "reindex", "rollup",  "digest", "audit"};
  std::vector<std::string> out;
  for (int i = 0; static_cast<int>(out.size()) < n; ++i) {
    out.push_back(std::string(teams[i % 10]) + "-" + tasks[(i / 10) % 10] + "-" +
                  std::to_string(i / 100));
  }
  return out;
}

std::vector<std::string> Random(int n) {
  std::mt19937 rng(42);
  const std::string alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-";
  std::uniform_int_distribution<size_t> pick(0, alphabet.size() - 2);  // no leading '-'
  std::uniform_int_distribution<int> length(6, 24);
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    std::string name;
    const int len = length(rng);
    for (int c = 0; c < len; ++c) name += alphabet[pick(rng)];
    out.push_back(name);
  }
  return out;
}

void Report(const char* style, const std::vector<std::string>& jobs, int partitions) {
  std::vector<int> load(static_cast<size_t>(partitions), 0);
  for (const auto& job : jobs) {
    ++load[static_cast<size_t>(krond::kafka::PartitionForKey(job, partitions))];
  }
  const double mean = static_cast<double>(jobs.size()) / partitions;
  const auto [lo, hi] = std::minmax_element(load.begin(), load.end());
  double var = 0;
  for (int l : load) var += (l - mean) * (l - mean);
  const double stddev = std::sqrt(var / partitions);
  // What placing each job on a uniformly random partition would give (binomial).
  const double p = 1.0 / partitions;
  const double random_stddev = std::sqrt(static_cast<double>(jobs.size()) * p * (1 - p));
  std::printf("| %-11s | %10d | %8.1f | %5d | %5d | %8.3f | %8.3f | %6.1f | %6.1f |\n", style,
              partitions, mean, *lo, *hi, *lo / mean, *hi / mean, stddev, random_stddev);
}

}  // namespace

int main(int argc, char** argv) {
  const int jobs = argc > 1 ? std::atoi(argv[1]) : 10'000;
  if (jobs < 1) {
    std::fprintf(stderr, "usage: partition_balance [JOBS]\n");
    return 2;
  }
  std::printf("%d jobs; jobs per partition (murmur2 of the job name)\n\n", jobs);
  std::printf(
      "| names       | partitions |     mean |   min |   max | min/mean | max/mean | stddev | "
      "random |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
  const std::pair<const char*, std::vector<std::string>> styles[] = {
      {"job-N", Sequential(jobs)}, {"team-task-N", Structured(jobs)}, {"random", Random(jobs)}};
  for (const auto& [style, names] : styles) {
    for (int partitions : {2, 3, 6, 12, 24, 48, 64, 100}) Report(style, names, partitions);
  }
  return 0;
}
