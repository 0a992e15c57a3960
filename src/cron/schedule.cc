#include "cron/schedule.h"

#include <date/tz.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cctype>
#include <chrono>
#include <exception>

#include "common/duration.h"
#include "common/time_format.h"
#include "cron/calendar.h"
#include "cron/parser.h"

namespace krond::cron {
namespace {

using internal::CivilFromDays;
using internal::DaysFromCivil;
using internal::DaysInMonth;
using internal::FloorDiv;
using internal::kSecondsPerDay;
using internal::MatchingDays;
using internal::WeekdayFromDays;
using C = Schedule::Compiled;

// Next searches instants in [0001-01-01, 9999-12-31] UTC, and at most this many years ahead:
// the Gregorian calendar repeats every 400 years, so a day pattern that Parse accepted
// occurs within one cycle (e.g. `* * * 2 1#5`, a fifth Monday in February, is ~28 years apart).
constexpr int64_t kSearchYears = 400;
constexpr int64_t kMaxYear = 9999;
constexpr int64_t kMinInstant = DaysFromCivil(1, 1, 1) * kSecondsPerDay;
constexpr int64_t kMaxInstant = DaysFromCivil(kMaxYear + 1, 1, 1) * kSecondsPerDay;

struct Macro {
  std::string_view name;
  std::string_view fields;
};
constexpr std::array<Macro, 7> kMacros = {{
    {"@yearly", "0 0 1 1 *"},
    {"@annually", "0 0 1 1 *"},
    {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"},
    {"@daily", "0 0 * * *"},
    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
}};

bool IsSpace(char ch) { return std::isspace(static_cast<unsigned char>(ch)) != 0; }

std::string_view TrimLeft(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  return s;
}

std::string_view Trim(std::string_view s) {
  s = TrimLeft(s);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

// Splits off the first whitespace-delimited word of `s` (already left-trimmed).
std::string_view TakeWord(std::string_view& s) {
  size_t end = 0;
  while (end < s.size() && !IsSpace(s[end])) ++end;
  const std::string_view word = s.substr(0, end);
  s = TrimLeft(s.substr(end));
  return word;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& ch : out) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return out;
}

// The first matching local wall-clock time (seconds since 1970-01-01 local) at or after
// `lower` and before `upper`, ignoring zones. Jumps field by field: a non-matching month,
// day, hour or minute is skipped whole, so the cost grows with the number of fields that need
// to roll over, not with the distance to the answer.
std::optional<int64_t> NextLocal(const C& c, int64_t lower, int64_t upper) {
  const int64_t lower_days = FloorDiv(lower, kSecondsPerDay);
  const auto sod = static_cast<unsigned>(lower - lower_days * kSecondsPerDay);
  const internal::CivilDate date = CivilFromDays(lower_days);
  int64_t y = date.year;
  unsigned m = date.month;
  unsigned d = date.day;
  unsigned h = sod / 3600;
  unsigned mi = sod / 60 % 60;
  unsigned s = sod % 60;
  // Shifts stay below 64: m <= 13, d <= 32, h <= 24, mi and s <= 60.
  const uint64_t month_set = c.months;
  while (true) {
    uint64_t months = month_set & (~uint64_t{0} << m);
    if (months == 0) {
      ++y;
      months = month_set;
      m = 0;
    }
    if (const auto next_m = static_cast<unsigned>(std::countr_zero(months)); next_m != m) {
      m = next_m;
      d = 1;
      h = mi = s = 0;
    }
    const int64_t first_day = DaysFromCivil(y, m, 1);
    if (first_day * kSecondsPerDay >= upper) return std::nullopt;
    const uint64_t days_set = MatchingDays(c, DaysInMonth(y, m), WeekdayFromDays(first_day));
    while (true) {
      const uint64_t days = days_set & (~uint64_t{0} << d);
      if (days == 0) break;
      if (const auto next_d = static_cast<unsigned>(std::countr_zero(days)); next_d != d) {
        d = next_d;
        h = mi = s = 0;
      }
      const int64_t day_start = (first_day + d - 1) * kSecondsPerDay;
      if (day_start >= upper) return std::nullopt;
      // Time of day; hours, minutes and seconds are never empty, so this only fails on the
      // first day searched, when it starts late in the day.
      while (true) {
        const uint64_t hours = c.hours & (~uint64_t{0} << h);
        if (hours == 0) break;
        if (const auto next_h = static_cast<unsigned>(std::countr_zero(hours)); next_h != h) {
          h = next_h;
          mi = s = 0;
        }
        const uint64_t minutes = c.minutes & (~uint64_t{0} << mi);
        if (minutes == 0) {
          ++h;
          mi = s = 0;
          continue;
        }
        if (const auto next_mi = static_cast<unsigned>(std::countr_zero(minutes)); next_mi != mi) {
          mi = next_mi;
          s = 0;
        }
        const uint64_t seconds = c.seconds & (~uint64_t{0} << s);
        if (seconds == 0) {
          ++mi;
          s = 0;
          continue;
        }
        s = static_cast<unsigned>(std::countr_zero(seconds));
        const int64_t t = day_start + h * 3600 + mi * 60 + s;
        if (t >= upper) return std::nullopt;
        return t;
      }
      ++d;
      h = mi = s = 0;
    }
    ++m;
    d = 1;
    h = mi = s = 0;
  }
}

}  // namespace

Result<Schedule> Schedule::Parse(std::string_view expr, const date::time_zone* zone) {
  Schedule schedule;
  schedule.text_ = std::string(expr);
  std::string_view rest = Trim(expr);

  for (std::string_view prefix : {"CRON_TZ=", "TZ="}) {
    if (rest.substr(0, prefix.size()) != prefix) continue;
    rest.remove_prefix(prefix.size());
    const std::string_view name = TakeWord(rest);
    const std::string label(prefix.substr(0, prefix.size() - 1));
    if (name.empty()) return MakeError(label + "= needs a zone name, e.g. " + label + "=UTC");
    auto located = LocateZone(name);
    if (!located) return MakeError(label + ": " + located.error().message);
    zone = *located;
    break;
  }
  if (zone == nullptr) return MakeError("no time zone given for the schedule");
  schedule.zone_ = zone;
  if (rest.empty()) return MakeError("empty schedule (e.g. \"*/5 * * * *\" or \"@daily\")");

  std::string_view fields = rest;
  if (rest.front() == '@') {
    const std::string name = Lower(TakeWord(rest));
    if (name == "@every") {
      const std::string_view period = TakeWord(rest);
      if (period.empty()) return MakeError("@every needs a duration, e.g. @every 1h30m");
      if (!rest.empty())
        return MakeError("@every takes one duration, got extra \"" + std::string(rest) + "\"");
      auto duration = ParseDuration(period);
      if (!duration) return MakeError("@every: " + duration.error().message);
      // Cron's own resolution (the 6-field form) and a floor on the load one job can make:
      // each fire is a Kafka message and a process on a worker.
      if (*duration < kMinEveryPeriod) {
        return MakeError("@every " + std::string(period) + ": the period must be at least 1s");
      }
      schedule.compiled_.every_ms = duration->count();
      return schedule;
    }
    const auto macro = std::find_if(kMacros.begin(), kMacros.end(),
                                    [&](const Macro& m) { return m.name == name; });
    if (macro == kMacros.end()) {
      return MakeError("unknown macro \"" + name +
                       "\" (use @yearly, @annually, @monthly, @weekly, @daily, @midnight, "
                       "@hourly or @every <duration>)");
    }
    if (!rest.empty()) {
      return MakeError(name + " takes no arguments, got \"" + std::string(rest) + "\"");
    }
    fields = macro->fields;
  }
  auto compiled = internal::ParseFields(fields);
  if (!compiled) return tl::unexpected(compiled.error());
  schedule.compiled_ = *compiled;
  return schedule;
}

std::optional<SystemTime> Schedule::Next(SystemTime after) const {
  const int64_t after_ms = after.time_since_epoch().count();
  if (compiled_.every_ms > 0) {
    // anchor + k * period for the smallest k >= 1 with a result > after.
    const int64_t period = compiled_.every_ms;
    const int64_t anchor = compiled_.anchor_ms;
    int64_t k = 1;
    if (after_ms >= anchor) {
      int64_t elapsed = 0;
      if (__builtin_sub_overflow(after_ms, anchor, &elapsed)) return std::nullopt;
      k = elapsed / period + 1;
    }
    int64_t offset = 0;
    int64_t result = 0;
    if (__builtin_mul_overflow(k, period, &offset) ||
        __builtin_add_overflow(anchor, offset, &result)) {
      return std::nullopt;
    }
    return SystemTime(std::chrono::milliseconds(result));
  }
  if (compiled_.months == 0 || zone_ == nullptr) return std::nullopt;

  // Fires are on whole seconds: start at the first whole second strictly after `after`.
  const int64_t after_s = FloorDiv(after_ms, 1000);
  if (after_s >= kMaxInstant) return std::nullopt;
  int64_t t = std::max(after_s + 1, kMinInstant);
  const int64_t horizon_year =
      std::min(CivilFromDays(FloorDiv(t, kSecondsPerDay)).year + kSearchYears, kMaxYear);
  const int64_t horizon = DaysFromCivil(horizon_year + 1, 1, 1) * kSecondsPerDay;
  const bool fixed = fixed_time();

  // Walk the zone's periods of constant UTC offset. Inside one, wall time is instant + offset,
  // so the next fire is the next matching wall time that still falls inside it. The DST rule
  // only changes where the search starts in the period right after a transition.
  try {
    while (true) {
      const date::sys_info info = zone_->get_info(date::sys_seconds(std::chrono::seconds(t)));
      const int64_t begin = info.begin.time_since_epoch().count();
      const int64_t end = info.end.time_since_epoch().count();
      const int64_t offset = info.offset.count();
      int64_t lower = t + offset;
      if (fixed && t - begin < kSecondsPerDay && begin > kMinInstant) {
        const int64_t previous_offset =
            zone_->get_info(date::sys_seconds(std::chrono::seconds(begin - 1))).offset.count();
        if (previous_offset > offset) {
          // Fall back: wall times before begin + previous_offset already happened in the
          // previous period; fixed-time runs fire only at that first occurrence.
          lower = std::max(lower, begin + previous_offset);
        } else if (previous_offset < offset && t == begin) {
          // Spring forward: wall times in [begin + previous_offset, begin + offset) do not
          // exist; fixed-time runs there fire at begin, the first instant after the gap.
          lower = begin + previous_offset;
        }
      }
      const int64_t upper = std::min(end + offset, horizon);
      if (const auto local = NextLocal(compiled_, lower, upper)) {
        const int64_t fire = std::max(*local - offset, begin);
        return SystemTime(std::chrono::seconds(fire));
      }
      if (upper >= horizon || end >= kMaxInstant) return std::nullopt;
      t = end;
    }
  } catch (const std::exception&) {
    // Only a broken tzdata file makes date throw here; treat it as "never".
    return std::nullopt;
  }
}

Schedule Schedule::AnchoredAt(SystemTime anchor) const {
  Schedule copy = *this;
  copy.compiled_.anchor_ms = anchor.time_since_epoch().count();
  return copy;
}

const date::time_zone* Schedule::zone() const { return zone_; }

bool Schedule::fixed_time() const { return (compiled_.flags & C::kFixedTime) != 0; }

bool Schedule::is_every() const { return compiled_.every_ms > 0; }

const std::string& Schedule::text() const { return text_; }

}  // namespace krond::cron
