// The console benchmark's data generator (`scripts/bench console`, docs/benchmarks.md):
//
//   console_load load --db FILE --jobs J --runs N
//       Bulk-loads a history store through HistoryStore::Apply (no Kafka): J catalog jobs and
//       N runs with one attempt each, spread evenly over the jobs, 0.5% failed, every job's
//       runs a minute apart ending now. Run ids are time-ordered (like UUIDv7) so the load
//       appends to the indexes; prints the load rate.
//   console_load produce --brokers B --topic T --runs N [--jobs J]
//       Produces N result messages to T with krond's producer settings (what workers write),
//       as fast as the broker takes them; prints the rate.
#include <chrono>
#include <cstdio>
#include <map>
#include <string>

#include "bench/probe_util.h"
#include "messages/catalog.h"
#include "store/history_store.h"

namespace {

constexpr const char* kTool = "console_load";
constexpr const char* kUsage =
    "console_load load --db FILE --jobs J --runs N | "
    "console_load produce --brokers B --topic T --runs N [--jobs J]";

using Clock = std::chrono::steady_clock;
using krond::SystemTime;

std::string JobName(int i) {
  char name[32];
  std::snprintf(name, sizeof name, "job-%06d", i);
  return name;
}

// Run `k` of job `j`: scheduled k minutes before the end, in time order across the whole
// history so that run ids (time first) grow as they are loaded.
krond::messages::ResultMessage Result(int job, int64_t k, int64_t runs_per_job, SystemTime end) {
  krond::messages::ResultMessage r;
  const SystemTime at = end - std::chrono::minutes(runs_per_job - k);
  char id[64];
  std::snprintf(id, sizeof id, "%013lld-%06d",
                static_cast<long long>(at.time_since_epoch().count()), job);
  r.run_id = id;
  r.job = JobName(job);
  r.cluster = "cluster-" + std::to_string(job % 4);
  r.attempt = 1;
  r.worker = "worker-" + std::to_string(job % 16) + ":1";
  r.queue = "main";
  r.scheduled_at = at;
  r.started_at = at + std::chrono::milliseconds(5 + job % 20);
  r.finished_at = r.started_at + std::chrono::milliseconds(100 + (k * 37 + job) % 5000);
  r.outcome = (k + job) % 200 == 0 ? krond::messages::Outcome::kFailed
                                   : krond::messages::Outcome::kSucceeded;
  r.exit_code = r.outcome == krond::messages::Outcome::kFailed ? 1 : 0;
  r.output_tail = "ok " + r.run_id + "\n";
  r.output_bytes = static_cast<int64_t>(r.output_tail.size());
  return r;
}

int Load(const std::string& db, int jobs, int64_t runs) {
  krond::store::StoreOptions options;
  options.retention = std::chrono::hours(0);
  options.cache_mib = 1024;
  auto store = krond::store::HistoryStore::Open(db, options);
  if (!store) krond::bench::Die(kTool, store.error().message);
  const auto start = Clock::now();
  std::vector<krond::store::Record> batch;
  for (int j = 0; j < jobs; ++j) {
    krond::messages::CatalogEntry e;
    e.job = JobName(j);
    e.cluster = "cluster-" + std::to_string(j % 4);
    e.schedule = "* * * * *";
    e.timezone = "UTC";
    e.description = "every minute, UTC";
    e.catch_up = "last";
    e.task.job = e.job;
    e.task.cluster = e.cluster;
    e.task.command = "echo " + e.job;
    batch.push_back(krond::store::CatalogUpsert{e, krond::messages::Encode(e)});
  }
  if (auto ok = (*store)->Apply(batch); !ok) krond::bench::Die(kTool, ok.error().message);
  batch.clear();
  const int64_t per_job = runs / jobs;
  const SystemTime end =
      std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
  int64_t offset = 0, loaded = 0;
  // Time-major: every job's k-th run, then every job's (k+1)-th, as a live system writes.
  for (int64_t k = 0; k < per_job; ++k) {
    for (int j = 0; j < jobs; ++j) {
      batch.push_back(
          krond::store::ResultSeen{Result(j, k, per_job, end), {"bench.results", 0, offset++}});
      if (batch.size() == 20'000) {
        if (auto ok = (*store)->Apply(batch); !ok) krond::bench::Die(kTool, ok.error().message);
        loaded += static_cast<int64_t>(batch.size());
        batch.clear();
        if (loaded % 1'000'000 == 0) {
          const double s = std::chrono::duration<double>(Clock::now() - start).count();
          std::printf("  %lld runs loaded in %.0f s (%.0f/s)\n", static_cast<long long>(loaded), s,
                      static_cast<double>(loaded) / s);
          std::fflush(stdout);
        }
      }
    }
  }
  if (!batch.empty()) {
    if (auto ok = (*store)->Apply(batch); !ok) krond::bench::Die(kTool, ok.error().message);
    loaded += static_cast<int64_t>(batch.size());
  }
  const double s = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("loaded %d jobs and %lld runs into %s in %.1f s (%.0f runs/s)\n", jobs,
              static_cast<long long>(loaded), db.c_str(), s, static_cast<double>(loaded) / s);
  return 0;
}

int Produce(const krond::bench::CommonFlags& common, int jobs, int64_t runs) {
  auto producer = krond::bench::ProbeProducer(kTool, common);
  const SystemTime end =
      std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
  const auto start = Clock::now();
  int64_t acked = 0, failed = 0;
  const int64_t per_job = std::max<int64_t>(1, runs / jobs);
  for (int64_t i = 0; i < runs; ++i) {
    const auto r = Result(static_cast<int>(i % jobs), i / jobs, per_job, end);
    const std::string value = krond::messages::Encode(r);
    for (;;) {
      auto sent = producer->Produce(
          common.topic, r.run_id, value,
          [&](const krond::kafka::DeliveryReport& d) { d.status ? ++acked : ++failed; });
      if (sent) break;
      producer->Poll(std::chrono::milliseconds(10));  // local queue full: let it drain
    }
    if (i % 1000 == 0) producer->Poll(std::chrono::milliseconds(0));
  }
  if (auto ok = producer->Flush(std::chrono::seconds(120)); !ok)
    krond::bench::Die(kTool, ok.error().message);
  const double s = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("produced %lld results to %s in %.1f s (%.0f/s), %lld failed\n",
              static_cast<long long>(acked), common.topic.c_str(), s,
              static_cast<double>(acked) / s, static_cast<long long>(failed));
  return failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) krond::bench::Usage(kTool, kUsage, "missing mode");
  const std::string mode = argv[1];
  std::string db, runs_text = "0";
  int jobs = 1000;
  if (mode == "load") {
    std::map<std::string, std::string> flags;
    for (int i = 2; i + 1 < argc; i += 2) flags[argv[i]] = argv[i + 1];
    db = flags["--db"];
    if (db.empty() || !flags.count("--jobs") || !flags.count("--runs")) {
      krond::bench::Usage(kTool, kUsage, "load needs --db, --jobs and --runs");
    }
    jobs = std::stoi(flags["--jobs"]);
    return Load(db, jobs, std::stoll(flags["--runs"]));
  }
  if (mode == "produce") {
    krond::bench::CommonFlags common;
    int runs = 0;
    krond::bench::ParseFlags(argc - 1, argv + 1, kTool, kUsage, common,
                             {{"--runs", &runs}, {"--jobs", &jobs}});
    return Produce(common, jobs, runs);
  }
  krond::bench::Usage(kTool, kUsage, "unknown mode " + mode);
}
