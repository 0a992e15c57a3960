#pragma once

#include <date/tz.h>
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "common/time_format.h"
#include "cron/schedule.h"

namespace krond::cron::testing {

inline const date::time_zone* Zone(std::string_view name) {
  auto zone = LocateZone(name);
  EXPECT_TRUE(zone) << name;
  return zone ? *zone : date::locate_zone("UTC");
}

inline SystemTime At(std::string_view rfc3339) {
  auto t = ParseRfc3339(rfc3339);
  EXPECT_TRUE(t) << rfc3339;
  return t ? *t : SystemTime{};
}

// The first `n` fire times of `expr` (in `zone`) strictly after `from`, formatted in the
// schedule's zone with its UTC offset, the way `krond next` prints them.
inline std::vector<std::string> Fires(std::string_view expr, std::string_view zone,
                                      std::string_view from, int n) {
  auto schedule = Schedule::Parse(expr, Zone(zone));
  if (!schedule) {
    ADD_FAILURE() << expr << ": " << schedule.error().message;
    return {};
  }
  std::vector<std::string> out;
  SystemTime t = At(from);
  for (int i = 0; i < n; ++i) {
    const auto next = schedule->Next(t);
    if (!next) {
      out.push_back("never");
      break;
    }
    EXPECT_GT(*next, t) << expr;
    t = *next;
    out.push_back(FormatRfc3339InZone(t, schedule->zone()));
  }
  return out;
}

// The error message of an expression that must not parse.
inline std::string ParseError(std::string_view expr) {
  auto schedule = Schedule::Parse(expr, date::locate_zone("UTC"));
  if (schedule) return "parsed OK";
  return schedule.error().message;
}

}  // namespace krond::cron::testing
