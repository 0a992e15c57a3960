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

// Length of the well-formed UTF-8 sequence at the start of `s`, or 0 if it is not one.
std::size_t Utf8SequenceLength(std::string_view s) {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char b0 = byte(0);
  if (b0 < 0x80) return 1;
  std::size_t length = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (b0 >= 0xC2 && b0 <= 0xDF) {
    length = 2;
  } else if (b0 >= 0xE0 && b0 <= 0xEF) {
    length = 3;
    if (b0 == 0xE0) lo = 0xA0;  // Overlong.
    if (b0 == 0xED) hi = 0x9F;  // UTF-16 surrogates.
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    length = 4;
    if (b0 == 0xF0) lo = 0x90;  // Overlong.
    if (b0 == 0xF4) hi = 0x8F;  // Above U+10FFFF.
  } else {
    return 0;
  }
  if (s.size() < length) return 0;
  if (byte(1) < lo || byte(1) > hi) return 0;
  for (std::size_t i = 2; i < length; ++i) {
    if (byte(i) < 0x80 || byte(i) > 0xBF) return 0;
  }
  return length;
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

std::string SanitizeUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  while (!text.empty()) {
    const std::size_t length = Utf8SequenceLength(text);
    if (length == 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
      text.remove_prefix(1);
    } else {
      out.append(text.substr(0, length));
      text.remove_prefix(length);
    }
  }
  return out;
}

}  // namespace krond::metrics
