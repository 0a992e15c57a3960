#pragma once

// Proleptic Gregorian calendar arithmetic on plain integers, and the day-matching rule of
// cron. Internal to krond_cron; header-only so Next inlines it. Algorithms from Howard
// Hinnant's "chrono-Compatible Low-Level Date Algorithms". No I/O, no zones.

#include <bit>
#include <cstdint>

#include "cron/schedule.h"

namespace krond::cron::internal {

inline constexpr int64_t kSecondsPerDay = 86'400;

struct CivilDate {
  int64_t year;
  unsigned month;  // 1..12
  unsigned day;    // 1..31
};

constexpr int64_t FloorDiv(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

// Days since 1970-01-01 of a civil date.
constexpr int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = FloorDiv(y, 400);
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146'097 + static_cast<int64_t>(doe) - 719'468;
}

constexpr CivilDate CivilFromDays(int64_t z) {
  z += 719'468;
  const int64_t era = FloorDiv(z, 146'097);
  const auto doe = static_cast<unsigned>(z - era * 146'097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36'524 - doe / 146'096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {static_cast<int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0), m, d};
}

constexpr bool IsLeapYear(int64_t y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

constexpr unsigned DaysInMonth(int64_t y, unsigned m) {
  constexpr unsigned kDays[] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeapYear(y) ? 29 : kDays[m];
}

// 0 = Sunday. 1970-01-01 was a Thursday.
constexpr unsigned WeekdayFromDays(int64_t z) {
  return static_cast<unsigned>(((z + 4) % 7 + 7) % 7);
}

// A 7-bit weekday set rotated so that bit j says whether weekday (first + j) % 7 is in it.
constexpr uint64_t RotateWeekdays(uint64_t set, unsigned first) {
  return ((set >> first) | (set << (7 - first))) & 0x7f;
}

// The days (bits 1..days_in_month) of a month that starts on weekday `first_weekday` on
// which `c` fires, following the classic rule: day-of-month and day-of-week are ORed when
// both are restricted, ANDed otherwise.
constexpr uint64_t MatchingDays(const Schedule::Compiled& c, unsigned days_in_month,
                                unsigned first_weekday) {
  using C = Schedule::Compiled;
  const uint64_t all = ((uint64_t{1} << days_in_month) - 1) << 1;
  uint64_t dom = c.dom & all;
  if (c.flags & C::kDomLast) dom |= uint64_t{1} << days_in_month;
  // Bit j of the rotated set repeats every 7 days; the multiplier copies it to days j+1,
  // j+8, j+15, j+22 and j+29 without carries (the set has 7 bits).
  constexpr uint64_t kEveryWeek = 1 | 1 << 7 | 1 << 14 | 1 << 21 | uint64_t{1} << 28;
  uint64_t dow = (RotateWeekdays(c.dow, first_weekday) * kEveryWeek) << 1;
  if (c.dow_last != 0) {
    // The last 7 days of the month hold exactly one of each weekday.
    const unsigned first_of_last_week = days_in_month - 6;
    dow |= RotateWeekdays(c.dow_last, (first_weekday + first_of_last_week - 1) % 7)
           << first_of_last_week;
  }
  for (unsigned k = 0; k < 5; ++k) {
    if (c.dow_nth[k] != 0) dow |= RotateWeekdays(c.dow_nth[k], first_weekday) << (1 + 7 * k);
  }
  dow &= all;
  const bool both_restricted = (c.flags & (C::kDomStar | C::kDowStar)) == 0;
  return both_restricted ? (dom | dow) : (dom & dow);
}

}  // namespace krond::cron::internal
