#include "audit/audit.h"

#include <algorithm>
#include <memory>
#include <nlohmann/json.hpp>

#include "common/time_format.h"

namespace krond::audit {
namespace {

constexpr std::string_view kStillRunning = "still running";

// The skip record of `records` that covers `t`, if any.
const messages::SkipRecord* CoveringSkip(const std::vector<const messages::SkipRecord*>& skips,
                                         SystemTime t) {
  for (const messages::SkipRecord* skip : skips) {
    if (skip->first <= t && t <= skip->last) return skip;
  }
  return nullptr;
}

}  // namespace

std::string_view ProblemName(Problem p) {
  switch (p) {
    case Problem::kMissing:
      return "missing";
    case Problem::kDoubled:
      return "doubled";
    case Problem::kSkipped:
      return "skipped";
    case Problem::kLate:
      return "late";
    case Problem::kNoResult:
      return "no_result";
  }
  return "missing";
}

bool Finding::explained() const {
  return problem == Problem::kSkipped || (problem == Problem::kNoResult && reason == kStillRunning);
}

std::vector<JobCalendar> Calendars(const std::vector<config::Job>& jobs) {
  std::vector<JobCalendar> out;
  out.reserve(jobs.size());
  for (const config::Job& job : jobs) out.push_back({job.name, job.schedule, job.timeout});
  return out;
}

Auditor::Auditor(std::vector<JobCalendar> jobs, Options options)
    : jobs_(std::move(jobs)), options_(options), records_(jobs_.size()) {
  for (size_t i = 0; i < jobs_.size(); ++i) index_.emplace(jobs_[i].name, i);
}

void Auditor::Evidence(JobRecords& records, SystemTime at) {
  if (!records.first_evidence || at < *records.first_evidence) records.first_evidence = at;
}

void Auditor::AddTask(const messages::TaskMessage& task) {
  if (task.attempt != 1 || task.replayed_from) return;
  auto it = index_.find(task.job);
  if (it == index_.end()) return;  // a job no longer in the file
  JobRecords& records = records_[it->second];
  Evidence(records, task.scheduled_at);
  std::vector<std::string>& ids = records.fires[task.scheduled_at].run_ids;
  // A run id seen twice is one fire read twice (e.g. overlapping scans), not a double.
  if (std::find(ids.begin(), ids.end(), task.run_id) == ids.end()) ids.push_back(task.run_id);
}

void Auditor::AddResult(const messages::ResultMessage& result) {
  RunResult& r = results_[result.run_id];
  r.any = true;
  if (result.outcome == messages::Outcome::kSkipped && result.attempt == 1 &&
      result.error.find("starting_deadline") != std::string::npos) {
    r.missed_deadline = true;
  }
}

void Auditor::AddSkip(const messages::SkipRecord& skip) {
  auto it = index_.find(skip.job);
  if (it == index_.end()) return;
  skips_.push_back(std::make_unique<messages::SkipRecord>(skip));
  JobRecords& records = records_[it->second];
  records.skips.push_back(skips_.back().get());
  Evidence(records, skip.first);
}

Report Auditor::Finish(SystemTime now) const {
  Report report;
  report.since = options_.since;
  report.until = options_.until;
  for (size_t i = 0; i < jobs_.size(); ++i) Judge(i, now, report);
  for (const Finding& f : report.findings) {
    if (!f.explained()) ++report.unexplained;
  }
  return report;
}

void Auditor::Judge(size_t job_index, SystemTime now, Report& report) const {
  const JobCalendar& job = jobs_[job_index];
  const JobRecords& records = records_[job_index];
  JobSummary summary;
  summary.job = job.name;
  // `@every` jobs restart their cadence at every takeover: they have no fixed calendar.
  if (job.schedule.is_every()) {
    report.jobs.push_back(std::move(summary));
    return;
  }
  SystemTime start = options_.since;
  if (records.first_evidence) start = std::max(start, *records.first_evidence);
  size_t kept = 0;
  auto add = [&](SystemTime t, Problem problem, std::string reason,
                 std::vector<std::string> run_ids) {
    ++summary.problems[problem];
    if (kept++ >= options_.max_findings_per_job) return;
    report.findings.push_back({job.name, t, problem, std::move(reason), std::move(run_ids)});
  };
  auto fire = records.fires.lower_bound(start);
  for (std::optional<SystemTime> t = job.schedule.Next(start - std::chrono::milliseconds(1));
       t && *t <= options_.until; t = job.schedule.Next(*t)) {
    // Fires between calendar instants belong to no instant.
    for (; fire != records.fires.end() && fire->first < *t; ++fire) ++report.off_calendar;
    ++summary.expected;
    if (fire == records.fires.end() || fire->first != *t) {
      if (const messages::SkipRecord* skip = CoveringSkip(records.skips, *t)) {
        add(*t, Problem::kSkipped, std::string(messages::SkipReasonName(skip->reason)), {});
      } else {
        add(*t, Problem::kMissing, "", {});
      }
      continue;
    }
    ++summary.fired;
    const std::vector<std::string>& ids = fire->second.run_ids;
    ++fire;
    if (ids.size() > 1) {
      add(*t, Problem::kDoubled, "", ids);
      continue;
    }
    auto result = results_.find(ids.front());
    if (result == results_.end()) {
      const bool running = now < *t + job.timeout + options_.result_grace;
      add(*t, Problem::kNoResult, running ? std::string(kStillRunning) : "", ids);
    } else if (result->second.missed_deadline) {
      add(*t, Problem::kLate, "starting_deadline", ids);
    }
  }
  report.jobs.push_back(std::move(summary));
}

std::string FormatText(const Report& report) {
  std::string out;
  for (const Finding& f : report.findings) {
    out +=
        f.job + " " + FormatRfc3339Utc(f.scheduled_at) + " " + std::string(ProblemName(f.problem));
    if (!f.reason.empty()) out += " (" + f.reason + ")";
    for (const auto& id : f.run_ids) out += " " + id;
    out += "\n";
  }
  return out + FormatSummary(report) + "\n";
}

std::string FormatSummary(const Report& report) {
  std::string out;
  int64_t expected = 0, fired = 0;
  std::map<Problem, int64_t> totals;
  for (const JobSummary& job : report.jobs) {
    expected += job.expected;
    fired += job.fired;
    for (const auto& [problem, n] : job.problems) totals[problem] += n;
  }
  out += "audit " + FormatRfc3339Utc(report.since) + " .. " + FormatRfc3339Utc(report.until) +
         ": " + std::to_string(report.jobs.size()) + " job(s), " + std::to_string(expected) +
         " scheduled instant(s), " + std::to_string(fired) + " fired";
  for (Problem p : {Problem::kMissing, Problem::kDoubled, Problem::kSkipped, Problem::kLate,
                    Problem::kNoResult}) {
    out += ", " + std::to_string(totals[p]) + " " + std::string(ProblemName(p));
  }
  out += report.clean() ? "; clean" : "; " + std::to_string(report.unexplained) + " unexplained";
  return out;
}

std::string FormatJson(const Report& report) {
  nlohmann::json jobs = nlohmann::json::array();
  for (const JobSummary& job : report.jobs) {
    nlohmann::json problems = nlohmann::json::object();
    for (const auto& [problem, n] : job.problems) problems[std::string(ProblemName(problem))] = n;
    jobs.push_back({{"job", job.job},
                    {"expected", job.expected},
                    {"fired", job.fired},
                    {"problems", problems}});
  }
  nlohmann::json findings = nlohmann::json::array();
  for (const Finding& f : report.findings) {
    nlohmann::json j = {{"job", f.job},
                        {"scheduled_at", FormatRfc3339Utc(f.scheduled_at)},
                        {"problem", ProblemName(f.problem)},
                        {"explained", f.explained()}};
    if (!f.reason.empty()) j["reason"] = f.reason;
    if (!f.run_ids.empty()) j["run_ids"] = f.run_ids;
    findings.push_back(std::move(j));
  }
  nlohmann::json out = {{"since", FormatRfc3339Utc(report.since)},
                        {"until", FormatRfc3339Utc(report.until)},
                        {"clean", report.clean()},
                        {"unexplained", report.unexplained},
                        {"off_calendar", report.off_calendar},
                        {"jobs", jobs},
                        {"findings", findings}};
  return out.dump();
}

}  // namespace krond::audit
