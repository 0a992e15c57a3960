#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/result.h"

namespace date {
class time_zone;
}

namespace krond::cron {

// The shortest `@every` period accepted.
inline constexpr std::chrono::milliseconds kMinEveryPeriod{1000};

// A parsed cron schedule, compiled to bitsets: cheap to copy, immutable, thread-safe.
//
// Syntax (docs/cron.md): 5 fields `min hour dom mon dow` or 6 with seconds first; `*`, `?`,
// `a`, `a-b`, `*/s`, `a-b/s`, `a/s`, lists; JAN..DEC, SUN..SAT; dom `L`; dow `nL`, `n#k`;
// macros @yearly @annually @monthly @weekly @daily @midnight @hourly and `@every <duration>`;
// an optional `CRON_TZ=Zone ` or `TZ=Zone ` prefix that overrides the job's zone.
//
// A default-constructed Schedule is a placeholder (so structs holding one stay aggregates):
// it never fires (Next returns nullopt), its zone() is null and its text() is empty.
class Schedule {
 public:
  // Parses `expr`. `zone` is the job's zone, used unless the expression has a CRON_TZ=/TZ=
  // prefix; it must not be null. Errors name the field and the offending token, e.g.
  // "minute field: 61 is out of range 0-59", and impossible schedules such as `0 0 30 2 *`
  // are rejected here.
  [[nodiscard]] static Result<Schedule> Parse(std::string_view expr, const date::time_zone* zone);

  // The first fire instant strictly after `after`, following the DST rule in docs/cron.md.
  // For `@every D` the fires are anchor + k*D (k >= 1), see `anchor`.
  // nullopt only if no fire exists before the search horizon: 400 years ahead (one full
  // Gregorian cycle, so a parsed classic schedule always has one, since Parse rejects
  // impossible ones) or the year 9999, whichever is first. A classic schedule can still
  // return nullopt if every match falls in a DST gap of its zone and it is not fixed-time.
  // Cost: a few bit operations per skipped month/day/hour plus one or two zone look-ups.
  std::optional<SystemTime> Next(SystemTime after) const;

  // `@every` schedules are anchored at an instant (the scheduler's start, `krond next
  // --from`). Returns a copy anchored at `anchor`; other schedules ignore it.
  Schedule AnchoredAt(SystemTime anchor) const;

  const date::time_zone* zone() const;
  // True when minute and hour fields are both fixed (do not start with `*`): see the DST rule.
  bool fixed_time() const;
  bool is_every() const;
  // The expression as written, for logs and messages.
  const std::string& text() const;

  // Implementation detail, public so tests and benchmarks can check its size. Every set is a
  // bitset indexed by the field's value, so matching is a shift and finding the next match is
  // a count of trailing zeros.
  struct Compiled {
    uint64_t seconds = 0;     // Bits 0..59.
    uint64_t minutes = 0;     // Bits 0..59.
    int64_t every_ms = 0;     // > 0 only for `@every`: the period.
    int64_t anchor_ms = 0;    // `@every` anchor, ms since the Unix epoch (default: the epoch).
    uint32_t hours = 0;       // Bits 0..23.
    uint32_t dom = 0;         // Bits 1..31: plain day-of-month values.
    uint16_t months = 0;      // Bits 1..12.
    uint8_t dow = 0;          // Bits 0..6, Sunday = 0: plain day-of-week values.
    uint8_t dow_last = 0;     // Bit n: `nL`, the last weekday n of the month.
    uint8_t dow_nth[5] = {};  // dow_nth[k-1] bit n: `n#k`, the k-th weekday n of the month.
    uint8_t flags = 0;        // The k* bits below.

    static constexpr uint8_t kDomLast = 1;  // Day-of-month has `L`.
    // The field starts with `*` or `?`, so the classic (Vixie) rule ANDs day-of-month and
    // day-of-week instead of ORing them.
    static constexpr uint8_t kDomStar = 2;
    static constexpr uint8_t kDowStar = 4;
    static constexpr uint8_t kFixedTime = 8;  // See fixed_time().
  };
  // The compiled sets, for readers of the schedule such as Describe.
  const Compiled& compiled() const { return compiled_; }

 private:
  Compiled compiled_;
  const date::time_zone* zone_ = nullptr;
  std::string text_;
};

}  // namespace krond::cron
