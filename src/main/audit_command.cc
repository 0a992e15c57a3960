// `krond audit`: did every scheduled run happen exactly once (audit::Auditor over Kafka)?
#include <spdlog/spdlog.h>

#include <iostream>

#include "audit/audit.h"
#include "audit/collect.h"
#include "common/clock.h"
#include "common/duration.h"
#include "config/job_file.h"
#include "kafka/rdkafka_client.h"
#include "main/app_support.h"
#include "main/command.h"

namespace krond::app {
namespace {

struct AuditFlags {
  std::string jobs;
  std::string since = "24h";
  std::string job;
  std::string output = "text";
  std::string settle = "1m";
  std::string lookback = "1h";
  KafkaFlags kafka;
};

// Exit codes: 0 clean, 1 problems nobody explained, 2 usage, 3 Kafka could not be read.
int RunAudit(const AuditFlags& flags) {
  RealClock clock;
  auto since = ParseDuration(flags.since);
  auto settle = ParseDuration(flags.settle);
  auto lookback = ParseDuration(flags.lookback);
  for (auto [flag, parsed] : {std::pair{"--since", &since}, std::pair{"--settle", &settle},
                              std::pair{"--lookback", &lookback}}) {
    if (!*parsed) {
      std::cerr << "krond audit: " << flag << " " << parsed->error().message << "\n";
      return 2;
    }
  }
  auto file = config::LoadJobFile(flags.jobs);
  if (!file) {
    for (const auto& p : file.error()) std::cerr << p.ToString() << "\n";
    return 2;
  }
  std::vector<config::Job> jobs;
  for (auto& job : file->jobs) {
    if (flags.job.empty() || job.name == flags.job) jobs.push_back(std::move(job));
  }
  if (jobs.empty()) {
    std::cerr << "krond audit: no job named \"" << flags.job << "\" in " << flags.jobs << "\n";
    return 2;
  }
  auto client = flags.kafka.Client("krond-audit");
  if (!client) {
    std::cerr << "krond audit: " << client.error().message << "\n";
    return 2;
  }
  const SystemTime now = clock.Now();
  audit::Options options;
  options.until = now - *settle;
  options.since = options.until - *since;
  audit::Auditor auditor(audit::Calendars(jobs), options);
  auto scan = [&](const std::string& topic, std::optional<SystemTime> from,
                  const std::function<bool(const kafka::ConsumedMessage&)>& record) {
    kafka::ScanOptions scan_options;
    scan_options.since = from;
    scan_options.timeout = std::chrono::minutes(10);
    return kafka::ScanTopic(*client, topic, scan_options, record);
  };
  auto stats = audit::Collect(scan, flags.kafka.Topics(), file->clusters, options.since - *lookback,
                              /*max_records=*/0, auditor);
  if (!stats) {
    std::cerr << "krond audit: " << stats.error().message << "\n";
    return 3;
  }
  if (stats->undecodable > 0) {
    spdlog::warn("{} undecodable record(s) ignored", stats->undecodable);
  }
  const audit::Report report = auditor.Finish(now);
  std::cout << (flags.output == "json" ? audit::FormatJson(report) + "\n"
                                       : audit::FormatText(report));
  return report.clean() ? 0 : 1;
}

KROND_REGISTER_COMMAND(Command{
    "audit", "Check that every scheduled run of a job file fired exactly once, with a result",
    [](CLI::App& sub) -> std::function<int()> {
      auto flags = std::make_shared<AuditFlags>();
      sub.add_option("--jobs", flags->jobs, "Job file (YAML): the calendars to check")
          ->required()
          ->check(CLI::ExistingFile);
      sub.add_option("--since", flags->since, "Length of the window, ending --settle ago")
          ->capture_default_str();
      sub.add_option("--job", flags->job, "Only this job");
      sub.add_option("--output", flags->output, "text or json")
          ->check(CLI::IsMember({"text", "json"}))
          ->capture_default_str();
      sub.add_option("--settle", flags->settle,
                     "Leave out instants younger than this (their fire may be in flight)")
          ->capture_default_str();
      sub.add_option("--lookback", flags->lookback,
                     "Also read this long before the window, so a job that fired before it is "
                     "judged over all of it")
          ->capture_default_str();
      flags->kafka.Add(sub);
      return [flags] { return RunAudit(*flags); };
    }});

}  // namespace
}  // namespace krond::app
