#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/result.h"

namespace date {
class time_zone;
}

namespace krond::cron {

// A parsed cron schedule, compiled to bitsets: cheap to copy, immutable, thread-safe.
//
// Syntax (docs/cron.md): 5 fields `min hour dom mon dow` or 6 with seconds first; `*`, `?`,
// `a`, `a-b`, `*/s`, `a-b/s`, `a/s`, lists; JAN..DEC, SUN..SAT; dom `L`; dow `nL`, `n#k`;
// macros @yearly @annually @monthly @weekly @daily @midnight @hourly and `@every <duration>`;
// an optional `CRON_TZ=Zone ` or `TZ=Zone ` prefix that overrides the job's zone.
class Schedule {
 public:
  // Parses `expr`. `zone` is the job's zone, used unless the expression has a CRON_TZ=/TZ=
  // prefix; it must not be null. Errors name the field and the offending token, e.g.
  // "minute field: 61 is out of range 0-59", and impossible schedules such as `0 0 30 2 *`
  // are rejected here.
  [[nodiscard]] static Result<Schedule> Parse(std::string_view expr, const date::time_zone* zone);

  // The first fire instant strictly after `after`, following the DST rule in docs/cron.md.
  // For `@every D` the fires are anchor + k*D (k >= 1), see `anchor`.
  // nullopt only if no fire exists in the next 8 years (cannot happen for a parsed schedule
  // of the classic kind, since Parse rejects impossible ones).
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

  // Implementation detail, public so tests and benchmarks can check its size.
  struct Compiled;

 private:
  // Filled in by the implementation.
};

}  // namespace krond::cron
