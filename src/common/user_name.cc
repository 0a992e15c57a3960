#include "common/user_name.h"

#include <algorithm>

namespace krond {

bool IsValidUserName(std::string_view name) {
  if (name.empty() || name.size() > 32 || name.front() == '-') return false;
  const bool all_digits =
      std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (all_digits) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
}

}  // namespace krond
