// What the decoder fuzz targets of this folder share: reading libFuzzer's bytes as text, and
// the rule every decoder keeps (a rejection always says why).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace krond::fuzz {

inline std::string_view AsText(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// True when a decoder accepted its input, false when it rejected it with a message. A
// rejection without one aborts: that is a finding (the operator would see an empty error).
template <typename R>
bool Accepted(const R& decoded) {
  if (decoded) return true;
  if (decoded.error().message.empty()) std::abort();
  return false;
}

}  // namespace krond::fuzz
