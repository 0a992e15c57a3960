#pragma once

#include <string_view>

#include "common/result.h"
#include "cron/schedule.h"

namespace krond::cron::internal {

// Compiles the 5 (`min hour dom mon dow`) or 6 (seconds first) whitespace-separated fields
// of a classic cron expression; no zone prefix, no macro. Errors name the field and the
// offending token, e.g. "minute field: 61 is out of range 0-59". Does not check whether the
// schedule can ever fire: see CanEverFire.
[[nodiscard]] Result<Schedule::Compiled> ParseFields(std::string_view fields);

// Whether some calendar day matches `c`'s day-of-month, month and day-of-week sets in some
// year. Exact: every (month, month length, weekday of the 1st) combination it tries occurs
// in the Gregorian cycle, Feb 29 included.
bool CanEverFire(const Schedule::Compiled& c);

}  // namespace krond::cron::internal
