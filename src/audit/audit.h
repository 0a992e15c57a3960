#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "config/job_file.h"
#include "cron/schedule.h"
#include "messages/run_messages.h"
#include "messages/scheduler_records.h"

// Did every scheduled run happen exactly once? Compares each job's cron calendar over a
// window with what Kafka holds: the fires in the task topics, the scheduler's skip records
// (what it decided not to fire, and why) and the results (docs/operations.md, "Auditing").
// Pure logic: the caller reads the topics (`krond audit`, the scheduler's periodic audit)
// and feeds the records in any order.
namespace krond::audit {

enum class Problem {
  kMissing,   // no fire and no skip record: the scheduler lost it (the alarm)
  kDoubled,   // more than one first-attempt fire of one instant (the alarm)
  kSkipped,   // not fired, for a recorded reason (catch_up, starting_deadline, paused, ...)
  kLate,      // fired, but no worker could start it within its starting_deadline
  kNoResult,  // fired, and no result yet (reason "still running" while it may be)
};
// "missing", "doubled", "skipped", "late", "no_result".
std::string_view ProblemName(Problem p);

// One instant of one job that did not happen exactly once, on time, with a result.
struct Finding {
  std::string job;
  SystemTime scheduled_at{};
  Problem problem = Problem::kMissing;
  // Why, where known: a skip reason ("catch_up", "starting_deadline", "catch_up_limit",
  // "rejected", "paused"), "still running", or empty.
  std::string reason;
  std::vector<std::string> run_ids;  // the fires of a doubled, late or result-less instant
  // True when the finding needs nobody: skipped for a recorded reason, or still running.
  bool explained() const;
};

struct JobSummary {
  std::string job;
  int64_t expected = 0;  // calendar instants judged
  int64_t fired = 0;     // instants fired at least once
  std::map<Problem, int64_t> problems;
};

struct Report {
  SystemTime since{};
  SystemTime until{};
  std::vector<JobSummary> jobs;   // in job file order
  std::vector<Finding> findings;  // by job, then instant
  int64_t unexplained = 0;        // findings that are not explained()
  // First-attempt fires at instants the job's calendar does not hold (a schedule edited
  // since, a replay from an older schedule); listed for information only.
  int64_t off_calendar = 0;
  bool clean() const { return unexplained == 0; }
};

// What the audit needs of a job: its calendar and how long a run may take.
struct JobCalendar {
  std::string name;
  cron::Schedule schedule;
  std::chrono::milliseconds timeout{};
};
std::vector<JobCalendar> Calendars(const std::vector<config::Job>& jobs);

struct Options {
  // Instants in [since, until] are judged. Requires: since <= until.
  SystemTime since{};
  SystemTime until{};
  // A fire without a result counts as "still running" (explained) until its scheduled
  // instant plus the job's timeout plus this margin has passed. Default: 5 minutes.
  std::chrono::milliseconds result_grace{300'000};
  // Most findings kept per job (the summary counts them all). Default: 1,000.
  size_t max_findings_per_job = 1'000;
};

// Collects records and judges the window. A job is judged from the later of `since` and its
// first fire or skip record fed in (callers feed records from a lookback before `since`, so
// a job that fired before the window is judged over all of it): the audit cannot tell an
// instant before a job was added to the file from one a scheduler missed. A job with no
// record at all is judged over the whole window. Not thread-safe.
class Auditor {
 public:
  Auditor(std::vector<JobCalendar> jobs, Options options);

  // A task message of a task topic. Only first attempts fired by a scheduler count:
  // retries and `krond dead replay` copies are the same run again.
  void AddTask(const messages::TaskMessage& task);
  void AddResult(const messages::ResultMessage& result);
  void AddSkip(const messages::SkipRecord& skip);

  // Judges every job at `now` (for "still running").
  Report Finish(SystemTime now) const;

 private:
  struct Instant {
    std::vector<std::string> run_ids;
  };
  struct JobRecords {
    std::optional<SystemTime> first_evidence;
    std::map<SystemTime, Instant> fires;  // by scheduled_at
    std::vector<const messages::SkipRecord*> skips;
  };
  struct RunResult {
    bool any = false;
    bool missed_deadline = false;
  };
  void Evidence(JobRecords& records, SystemTime at);
  void Judge(size_t job, SystemTime now, Report& report) const;

  std::vector<JobCalendar> jobs_;
  Options options_;
  std::unordered_map<std::string, size_t> index_;  // job name -> index in jobs_
  std::vector<JobRecords> records_;
  std::vector<std::unique_ptr<messages::SkipRecord>> skips_;
  std::unordered_map<std::string, RunResult> results_;  // run_id -> what its results say
};

// One line: the window, the counts of each problem over every job, and whether it is clean.
std::string FormatSummary(const Report& report);
// The report as `krond audit` prints it: one line per finding, then FormatSummary.
std::string FormatText(const Report& report);
// The report as JSON: {"since","until","clean","unexplained","jobs":[...],"findings":[...]}.
std::string FormatJson(const Report& report);

}  // namespace krond::audit
