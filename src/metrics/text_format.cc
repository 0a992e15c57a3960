#include "metrics/text_format.h"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <system_error>

namespace krond::metrics {
namespace {

// Largest magnitude below which every whole double is exact; beyond it "integer" output
// would print digits the value does not have.
constexpr double kMaxExactInteger = 9007199254740992.0;  // 2^53
// Like Go's %g (which Prometheus itself uses): fractions from 1e-4 up are written plainly,
// smaller ones with an exponent ("0.0004", "4e-05").
constexpr double kMinPlainFraction = 1e-4;

bool IsNameStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsNameChar(char c) { return IsNameStart(c) || (c >= '0' && c <= '9'); }

bool IsValidName(std::string_view name) {
  if (name.empty() || !IsNameStart(name.front())) return false;
  for (char c : name) {
    if (!IsNameChar(c)) return false;
  }
  return true;
}

}  // namespace

void AppendValue(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[64];
  std::to_chars_result result;
  const double magnitude = std::fabs(v);
  if (magnitude < kMaxExactInteger && v == std::trunc(v)) {
    // Also turns -0.0 into "0".
    result = std::to_chars(buf, buf + sizeof(buf), static_cast<int64_t>(v));
  } else if (magnitude >= kMinPlainFraction && magnitude < kMaxExactInteger) {
    result = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::fixed);
  } else {
    result = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
  }
  out.append(buf, result.ptr);
}

std::string FormatValue(double v) {
  std::string out;
  AppendValue(out, v);
  return out;
}

namespace {
// The exposition format escapes backslash and newline everywhere, and the double quote
// only inside label values.
void AppendEscaped(std::string& out, std::string_view text, bool quote) {
  for (char c : text) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}
}  // namespace

void AppendEscapedLabelValue(std::string& out, std::string_view value) {
  AppendEscaped(out, value, /*quote=*/true);
}

void AppendEscapedHelp(std::string& out, std::string_view help) {
  AppendEscaped(out, help, /*quote=*/false);
}

bool IsValidMetricName(std::string_view name) { return IsValidName(name); }

bool IsValidLabelName(std::string_view name) {
  return IsValidName(name) && !name.starts_with("__");
}

}  // namespace krond::metrics
