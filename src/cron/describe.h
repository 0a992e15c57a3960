#pragma once

#include <string>

#include "cron/schedule.h"

namespace krond::cron {

// A short English description of when `schedule` fires, for people reading a job list:
//   "30 2 * * 1-5" in America/New_York  -> "at 02:30, Monday to Friday, America/New_York"
//   "*/15 * * * *" in UTC                -> "every 15 minutes, UTC"
//   "0 0 L * *"                          -> "at 00:00, on the last day of the month, UTC"
//   "@every 1h30m"                       -> "every 1h30m"
// Derived from the compiled sets, so equivalent expressions read alike ("@daily" and
// "0 0 * * *"). Times are in the schedule's zone, named at the end (`@every` has none: it
// does not depend on the calendar). Pure; never fails: anything without a shorter phrase
// is listed field by field ("at minutes 5 and 35 past hours 1, 4 and 9").
std::string Describe(const Schedule& schedule);

}  // namespace krond::cron
