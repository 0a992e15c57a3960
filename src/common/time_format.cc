#include "common/time_format.h"

#include <date/date.h>
#include <date/tz.h>

#include <cstdio>
#include <sstream>

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

Result<SystemTime> ParseRfc3339(std::string_view text) {
  const std::string s(text);
  auto fail = [&] {
    return MakeError("\"" + s + "\" is not an RFC 3339 time (e.g. 2026-03-08T03:00:00Z)");
  };
  if (s.size() < 20 || (s[10] != 'T' && s[10] != 't' && s[10] != ' ')) return fail();
  // The fixed part YYYY-MM-DDTHH:MM:SS, checked first: date::parse reads "00:.00" as a
  // NaN number of seconds (found by fuzz/api_request_fuzzer).
  for (size_t i : {0u, 1u, 2u, 3u, 5u, 6u, 8u, 9u, 11u, 12u, 14u, 15u, 17u, 18u}) {
    if (s[i] < '0' || s[i] > '9') return fail();
  }
  if (s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':') return fail();
  // An optional fraction of digits, then the zone.
  size_t end = 19;
  if (s[end] == '.') {
    do ++end;
    while (end < s.size() && s[end] >= '0' && s[end] <= '9');
    if (end == 20) return fail();
  }
  if (end >= s.size() || (s[end] != 'Z' && s[end] != 'z' && s[end] != '+' && s[end] != '-')) {
    return fail();
  }
  std::istringstream in(s);
  date::sys_time<std::chrono::milliseconds> tp;
  std::string rest;
  if (s.back() == 'Z' || s.back() == 'z') {
    std::istringstream zin(s.substr(0, s.size() - 1));
    zin >> date::parse("%FT%T", tp);
    if (zin.fail() || zin.peek() != EOF) return fail();
    return tp;
  }
  in >> date::parse("%FT%T%Ez", tp);
  if (in.fail() || in.peek() != EOF) return fail();
  return tp;
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
