#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/result.h"

// The records the scheduler keeps about its own firing, on topics only schedulers and
// `krond audit` read (docs/messages.md): the last fire of each job (<prefix>.state), the
// lease (<prefix>.leader) and the fires it did not make (<prefix>.skips). All are written
// in the same Kafka transactions as the task messages they account for.
namespace krond::messages {

// <prefix>.state, key = job name, compacted:
// {"v":1,"job":"…","last_fired":"RFC 3339 ms","fence":N}
struct FireState {
  std::string job;
  // The latest scheduled instant whose fate is decided: fired, or skipped by catch-up (so a
  // second takeover does not count the same missed fires again).
  SystemTime last_fired{};
  // The fence of the job's latest fire; 0 in records of older schedulers. The greatest
  // fence of the whole topic is where the next active scheduler continues.
  int64_t fence = 0;
};
std::string Encode(const FireState& state);
[[nodiscard]] Result<FireState> DecodeFireState(std::string_view json);

// <prefix>.leader, key "lease", compacted: the active scheduler's heartbeat
// {"v":1,"owner":"host:pid:nonce","state":"active"|"resigned","at":"RFC 3339 ms"}.
// `at` is the owner's wall clock when it wrote the record; a resigned record's `at` is the
// instant through which it fired every due run.
struct LeaseRecord {
  std::string owner;
  bool resigned = false;
  SystemTime at{};
};
inline constexpr std::string_view kLeaseKey = "lease";
std::string Encode(const LeaseRecord& lease);
[[nodiscard]] Result<LeaseRecord> DecodeLeaseRecord(std::string_view json);

// Why scheduled instants of a job were not fired.
enum class SkipReason {
  kCatchUp,           // missed while no scheduler was active; the job's catch_up skipped it
  kStartingDeadline,  // missed, and older than the job's starting_deadline at takeover
  kCatchUpLimit,      // missed beyond the most fires one takeover enumerates for a job
  kRejected,          // the broker can never accept its task (too large, unauthorized, ...)
  kPaused,            // the job was paused (docs/control.md)
};
// "catch_up", "starting_deadline", "catch_up_limit", "rejected", "paused".
std::string_view SkipReasonName(SkipReason reason);
[[nodiscard]] Result<SkipReason> ParseSkipReason(std::string_view name);

// <prefix>.skips, key = job name, kept a week:
// {"v":1,"job":"…","reason":"catch_up","first":"…","last":"…","count":N,"decided_at":"…"}
// Every scheduled instant of the job in [first, last] was not fired, for `reason`; `count`
// is how many there were (-1: not counted). `detail` explains a rejection.
struct SkipRecord {
  std::string job;
  SkipReason reason = SkipReason::kCatchUp;
  SystemTime first{};
  SystemTime last{};
  int64_t count = 0;
  SystemTime decided_at{};
  std::string detail;
};
std::string Encode(const SkipRecord& skip);
[[nodiscard]] Result<SkipRecord> DecodeSkipRecord(std::string_view json);

}  // namespace krond::messages
