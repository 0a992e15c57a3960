#include "common/byte_size.h"

#include <cctype>
#include <charconv>
#include <string>

namespace krond {

std::optional<std::uint64_t> ParseByteSize(std::string_view text) {
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end == text.data() || n == 0) return std::nullopt;
  std::string unit(end, text.data() + text.size());
  for (char& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::uint64_t scale = 0;
  if (unit.empty() || unit == "b") scale = 1;
  if (unit == "k" || unit == "kb" || unit == "kib") scale = std::uint64_t{1} << 10;
  if (unit == "m" || unit == "mb" || unit == "mib") scale = std::uint64_t{1} << 20;
  if (unit == "g" || unit == "gb" || unit == "gib") scale = std::uint64_t{1} << 30;
  if (scale == 0 || n > UINT64_MAX / scale) return std::nullopt;
  return n * scale;
}

}  // namespace krond
