// libFuzzer target for ParseDuration (job files, flags): a duration it accepts is positive,
// at most 10 years, and FormatDuration writes it back as text that parses to the same value.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/duration.h"
#include "fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = krond::fuzz::AsText(data, size);
  auto d = krond::ParseDuration(text);
  if (!krond::fuzz::Accepted(d)) return 0;
  if (d->count() <= 0 || *d > std::chrono::hours(24 * 366 * 10)) std::abort();
  auto again = krond::ParseDuration(krond::FormatDuration(*d));
  if (!again || *again != *d) std::abort();
  return 0;
}
