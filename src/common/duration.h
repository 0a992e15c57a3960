#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "common/result.h"

namespace krond {

// Parses a Go-style duration: one or more <number><unit> terms with units ms, s, m, h, d,
// e.g. "90s", "1h30m", "250ms", "2d". The total must be positive and at most 10 years.
// Errors name the offending text, e.g. `"1x": unknown unit "x" (use ms, s, m, h or d)`.
[[nodiscard]] Result<std::chrono::milliseconds> ParseDuration(std::string_view text);

// The inverse for display: the shortest "1h30m"-style form of a positive duration.
std::string FormatDuration(std::chrono::milliseconds d);

}  // namespace krond
