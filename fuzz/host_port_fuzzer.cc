// libFuzzer target for ParseHostPort (--metrics-addr): an address it accepts prints
// (HostPort::ToString) as text that parses to the same address.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "fuzz_support.h"
#include "http/host_port.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = krond::fuzz::AsText(data, size);
  auto address = krond::http::ParseHostPort(text);
  if (!krond::fuzz::Accepted(address)) return 0;
  auto again = krond::http::ParseHostPort(address->ToString());
  if (!again || again->host != address->host || again->port != address->port) std::abort();
  return 0;
}
