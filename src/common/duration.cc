#include "common/duration.h"

#include <cctype>
#include <cstdint>
#include <string>

namespace krond {
namespace {

constexpr int64_t kMaxMs = int64_t{10} * 366 * 24 * 3600 * 1000;

struct Unit {
  std::string_view name;
  int64_t ms;
};
// Longer names first so "ms" is not read as "m".
constexpr Unit kUnits[] = {
    {"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}};

}  // namespace

Result<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  const std::string quoted = "\"" + std::string(text) + "\"";
  if (text.empty()) return MakeError("empty duration (e.g. 30s, 1h30m)");
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    if (!std::isdigit(static_cast<unsigned char>(text[i]))) {
      return MakeError(quoted + ": expected a number at \"" + std::string(text.substr(i)) +
                       "\" (e.g. 30s, 1h30m)");
    }
    int64_t value = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      value = value * 10 + (text[i] - '0');
      if (value > kMaxMs) return MakeError(quoted + ": too large");
      ++i;
    }
    size_t unit_start = i;
    while (i < text.size() && std::isalpha(static_cast<unsigned char>(text[i]))) ++i;
    std::string_view unit = text.substr(unit_start, i - unit_start);
    if (unit.empty())
      return MakeError(quoted + ": missing unit after " + std::to_string(value) +
                       " (use ms, s, m, h or d)");
    const Unit* found = nullptr;
    for (const Unit& u : kUnits) {
      if (u.name == unit) found = &u;
    }
    if (found == nullptr) {
      return MakeError(quoted + ": unknown unit \"" + std::string(unit) +
                       "\" (use ms, s, m, h or d)");
    }
    if (value > kMaxMs / found->ms) return MakeError(quoted + ": too large (at most 10 years)");
    total += value * found->ms;
    if (total > kMaxMs) return MakeError(quoted + ": too large (at most 10 years)");
  }
  if (total <= 0) return MakeError(quoted + ": must be positive");
  return std::chrono::milliseconds(total);
}

std::string FormatDuration(std::chrono::milliseconds d) {
  int64_t ms = d.count();
  if (ms <= 0) return "0s";
  std::string out;
  for (const Unit& u : {kUnits[4], kUnits[3], kUnits[2], kUnits[1], kUnits[0]}) {
    if (ms >= u.ms) {
      out += std::to_string(ms / u.ms) + std::string(u.name);
      ms %= u.ms;
    }
  }
  return out;
}

}  // namespace krond
