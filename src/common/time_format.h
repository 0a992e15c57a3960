#pragma once

#include <string>
#include <string_view>

#include "common/clock.h"
#include "common/result.h"

namespace date {
class time_zone;
}

namespace krond {

// RFC 3339 in UTC with milliseconds, e.g. "2026-03-08T07:00:00.000Z" (message timestamps).
std::string FormatRfc3339Utc(SystemTime t);

// RFC 3339 in `zone` with its UTC offset and no fraction when it is zero,
// e.g. "2026-03-08T03:00:00-04:00" (`krond next` output).
std::string FormatRfc3339InZone(SystemTime t, const date::time_zone* zone);

// Parses RFC 3339 ("2026-03-08T03:00:00Z", "...+01:00", an optional fraction, kept to the
// millisecond; years 0000-9999, in UTC as well). Strict: anything else is an error quoting (the
// start of) the text. Safe on any input.
[[nodiscard]] Result<SystemTime> ParseRfc3339(std::string_view text);

// Looks up an IANA zone in the system tzdata, e.g. "Europe/Dublin". Never null on success.
[[nodiscard]] Result<const date::time_zone*> LocateZone(std::string_view name);

}  // namespace krond
