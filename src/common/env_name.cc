#include "common/env_name.h"

#include <algorithm>

namespace krond {

bool IsValidEnvName(std::string_view name) {
  constexpr size_t kMaxBytes = 256;
  if (name.empty() || name.size() > kMaxBytes || (name[0] >= '0' && name[0] <= '9')) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  });
}

bool IsReservedEnvName(std::string_view name) { return name.starts_with("KROND_"); }

}  // namespace krond
