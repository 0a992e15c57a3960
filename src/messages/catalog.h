#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "messages/run_messages.h"

// The records of the two compacted control-plane topics (docs/messages.md): the job catalog
// <prefix>.jobs, which the active scheduler publishes, and <prefix>.control, where pause and
// resume requests are written. Both are keyed by job name.
namespace krond::messages {

// What the decoders accept beyond run_messages.h's limits (anyone with access can write
// these topics). A pause reason: the console accepts 500 characters, which UTF-8 may make
// up to 2,000 bytes. A schedule's description and the next fire times published with it.
inline constexpr size_t kMaxReasonBytes = 2000;
inline constexpr size_t kMaxDescriptionBytes = 1024;
inline constexpr size_t kMaxNextFires = 100;

// One job of the catalog, as the active scheduler published it. A job removed from the job
// file gets a tombstone (a null value) instead.
struct CatalogEntry {
  std::string job;
  std::string cluster;
  std::string schedule;  // the cron expression as written
  std::string timezone;  // IANA zone, e.g. "America/New_York"
  // Human description of the schedule, e.g. "at 02:30, Monday to Friday, America/New_York".
  std::string description;
  std::string catch_up;  // none | last | all
  // The next fire instants when published (they age: readers recompute from schedule).
  std::vector<SystemTime> next;
  SystemTime published_at{};
  // What a run of this job carries (job, cluster, command, timeout, max_attempts,
  // starting_deadline, retry, concurrency, sandbox, network); no run id or instants. Manual
  // runs and backfills are made from it with NewRun, exactly like scheduled runs.
  TaskMessage task;
};

// {"v":1,"job":…,"cluster":…,"schedule":…,"timezone":…,"description":…,"catch_up":…,
//  "next":[…],"published_at":…,"task":{…}}
std::string Encode(const CatalogEntry& e);
[[nodiscard]] Result<CatalogEntry> DecodeCatalogEntry(std::string_view json);

// A pause or resume request for one job; every record is also the audit trail.
struct ControlRecord {
  std::string job;
  bool paused = false;
  std::string by;  // the API token's name
  SystemTime at{};
  std::string reason;  // may be empty
};

// {"v":1,"job":"…","paused":true,"by":"alice","at":"…","reason":"…"}
std::string Encode(const ControlRecord& c);
[[nodiscard]] Result<ControlRecord> DecodeControlRecord(std::string_view json);

}  // namespace krond::messages
