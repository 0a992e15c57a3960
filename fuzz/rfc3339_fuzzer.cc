// libFuzzer target for ParseRfc3339 (every time field of every message): an instant it
// accepts formats back (FormatRfc3339Utc, milliseconds) to text that parses to the same one.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/time_format.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = krond::fuzz::AsText(data, size);
  auto t = krond::ParseRfc3339(text);
  if (!krond::fuzz::Accepted(t)) return 0;
  auto again = krond::ParseRfc3339(krond::FormatRfc3339Utc(*t));
  if (!again || *again != *t) std::abort();
  return 0;
}
