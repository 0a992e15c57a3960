#include "common/time_format.h"

#include <date/date.h>
#include <date/tz.h>

#include <cstdio>

namespace krond {

std::string FormatRfc3339Utc(SystemTime t) {
  // By hand rather than through date::format's streams, which cost microseconds a call:
  // the console formats thousands of instants per jobs page.
  const auto day = date::floor<date::days>(t);
  const date::year_month_day ymd(day);
  const int64_t ms_of_day = (t - day).count();
  const int year = static_cast<int>(ymd.year());
  if (year < 0 || year > 9999) return date::format("%FT%TZ", t);
  char text[] = "0000-00-00T00:00:00.000Z";
  auto put = [&text](size_t at, int64_t value, int digits) {
    for (int i = digits - 1; i >= 0; --i, value /= 10)
      text[at + static_cast<size_t>(i)] = static_cast<char>('0' + value % 10);
  };
  put(0, year, 4);
  put(5, static_cast<unsigned>(ymd.month()), 2);
  put(8, static_cast<unsigned>(ymd.day()), 2);
  put(11, ms_of_day / 3'600'000, 2);
  put(14, ms_of_day / 60'000 % 60, 2);
  put(17, ms_of_day / 1000 % 60, 2);
  put(20, ms_of_day % 1000, 3);
  return std::string(text, sizeof text - 1);
}

std::string FormatRfc3339InZone(SystemTime t, const date::time_zone* zone) {
  const auto info = zone->get_info(t);
  const auto local = date::local_time<std::chrono::milliseconds>{t.time_since_epoch()} +
                     std::chrono::duration_cast<std::chrono::milliseconds>(info.offset);
  std::string out = (t.time_since_epoch() % std::chrono::seconds(1)).count() == 0
                        ? date::format("%FT%T", date::floor<std::chrono::seconds>(local))
                        : date::format("%FT%T", local);
  const auto offset_min = std::chrono::duration_cast<std::chrono::minutes>(info.offset).count();
  if (offset_min == 0 && zone->name() == "UTC") return out + "Z";
  const long abs_min = offset_min < 0 ? -offset_min : offset_min;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%c%02ld:%02ld", offset_min < 0 ? '-' : '+', abs_min / 60,
                abs_min % 60);
  return out + buf;
}

namespace {

// Reads `count` decimal digits at `pos`; -1 if any is not a digit.
int Digits(std::string_view s, size_t pos, size_t count) {
  if (pos + count > s.size()) return -1;
  int value = 0;
  for (size_t i = pos; i < pos + count; ++i) {
    if (s[i] < '0' || s[i] > '9') return -1;
    value = value * 10 + (s[i] - '0');
  }
  return value;
}

}  // namespace

Result<SystemTime> ParseRfc3339(std::string_view text) {
  // Read by hand, every field checked before any arithmetic: date::parse turned some
  // malformed input (found by fuzz/rfc3339_fuzzer) into NaN seconds or a negated INT64_MIN
  // offset, undefined behaviour in a decoder of untrusted messages.
  auto fail = [&] {
    constexpr size_t kMaxQuoted = 64;
    const std::string shown(text.substr(0, kMaxQuoted));
    return MakeError("\"" + shown + (text.size() > kMaxQuoted ? "...\"" : "\"") +
                     " is not an RFC 3339 time (e.g. 2026-03-08T03:00:00Z)");
  };
  // YYYY-MM-DDTHH:MM:SS
  if (text.size() < 20 || text[4] != '-' || text[7] != '-' || text[13] != ':' || text[16] != ':') {
    return fail();
  }
  if (text[10] != 'T' && text[10] != 't' && text[10] != ' ') return fail();
  const int year = Digits(text, 0, 4), month = Digits(text, 5, 2), day = Digits(text, 8, 2);
  const int hour = Digits(text, 11, 2), minute = Digits(text, 14, 2), second = Digits(text, 17, 2);
  if (year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0) return fail();
  const date::year_month_day ymd{date::year(year), date::month(static_cast<unsigned>(month)),
                                 date::day(static_cast<unsigned>(day))};
  if (!ymd.ok() || hour > 23 || minute > 59 || second > 59) return fail();
  size_t pos = 19;
  // An optional fraction of any length; kept to the millisecond.
  int64_t millis = 0;
  if (pos < text.size() && text[pos] == '.') {
    const size_t start = ++pos;
    while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') {
      if (pos - start < 3) millis = millis * 10 + (text[pos] - '0');
      ++pos;
    }
    if (pos == start) return fail();
    for (size_t n = pos - start; n < 3; ++n) millis *= 10;
  }
  // Z, or an offset ±HH:MM.
  int offset_minutes = 0;
  if (pos + 1 == text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    pos += 1;
  } else if (pos + 6 == text.size() && (text[pos] == '+' || text[pos] == '-') &&
             text[pos + 3] == ':') {
    const int oh = Digits(text, pos + 1, 2), om = Digits(text, pos + 4, 2);
    if (oh < 0 || om < 0 || oh > 23 || om > 59) return fail();
    offset_minutes = (text[pos] == '-' ? -1 : 1) * (oh * 60 + om);
    pos += 6;
  }
  if (pos != text.size()) return fail();
  using std::chrono::hours, std::chrono::minutes, std::chrono::seconds, std::chrono::milliseconds;
  const SystemTime t(date::sys_days(ymd) + hours(hour) + minutes(minute) + seconds(second) +
                     milliseconds(millis) - minutes(offset_minutes));
  // In UTC too the year has four digits, so that FormatRfc3339Utc writes it back.
  static const SystemTime kFirst(date::sys_days(date::year(0) / 1 / 1));
  static const SystemTime kEnd(date::sys_days(date::year(10000) / 1 / 1));
  if (t < kFirst || t >= kEnd) return fail();
  return t;
}

Result<const date::time_zone*> LocateZone(std::string_view name) {
  try {
    return date::locate_zone(name);
  } catch (const std::exception&) {
    return MakeError("unknown time zone \"" + std::string(name) +
                     "\" (use an IANA name such as Europe/Dublin or UTC)");
  }
}

}  // namespace krond
