#include "common/time_format.h"

#include <date/date.h>
#include <date/tz.h>

#include <cstdio>
#include <sstream>

namespace krond {

std::string FormatRfc3339Utc(SystemTime t) { return date::format("%FT%TZ", t); }

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
