// Fuzzes the cron engine: Schedule::Parse on arbitrary bytes, then a few Next calls from start
// times chosen by the input, checking that Parse never crashes or throws and that Next
// terminates and is strictly increasing. Inputs are the expression text itself, so the seeds
// in fuzz/corpus/cron_fuzzer/ are plain cron expressions.
#include <date/tz.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <string_view>

#include "cron/schedule.h"

namespace {

using krond::SystemTime;

const date::time_zone* PickZone(size_t hash) {
  // Zones with hour, half-hour and no DST shifts; looked up once.
  static const date::time_zone* const kZones[] = {
      date::locate_zone("UTC"),
      date::locate_zone("America/New_York"),
      date::locate_zone("Australia/Lord_Howe"),
      date::locate_zone("Europe/London"),
  };
  return kZones[hash % 4];
}

SystemTime PickStart(size_t hash) {
  using std::chrono::milliseconds;
  // Ordinary dates around DST transitions, plus the edges of the representable range.
  static const int64_t kStarts[] = {
      1'772'935'200'000,    // 2026-03-08T02:00:00Z
      1'793'510'400'000,    // 2026-11-01T05:20:00Z
      0,                    // 1970
      -62'135'596'800'000,  // 0001-01-01
      253'402'300'799'000,  // 9999-12-31T23:59:59Z
      INT64_MIN,
      INT64_MAX,
      4'102'444'800'123,  // 2100-01-01, with milliseconds
  };
  return SystemTime(milliseconds(kStarts[(hash >> 8) % 8]));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view expr(reinterpret_cast<const char*>(data), size);
  const size_t hash = std::hash<std::string_view>()(expr);
  auto parsed = krond::cron::Schedule::Parse(expr, PickZone(hash));
  if (!parsed) {
    if (parsed.error().message.empty()) std::abort();  // Errors must say something.
    return 0;
  }
  const SystemTime start = PickStart(hash);
  const krond::cron::Schedule schedule = parsed->AnchoredAt(start);
  SystemTime t = start;
  for (int i = 0; i < 4; ++i) {
    const auto next = schedule.Next(t);
    if (!next) break;
    if (*next <= t) std::abort();  // Next must be strictly increasing.
    t = *next;
  }
  return 0;
}
