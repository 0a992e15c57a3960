#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace krond::http {

// A listening address. `host` is a name or an IP literal without brackets ("::1").
struct HostPort {
  std::string host;
  uint16_t port = 0;  // 0: the kernel picks a free port.

  // "127.0.0.1:9100", or "[::1]:9100" for IPv6 literals.
  std::string ToString() const;
};

// Parses "HOST:PORT": "127.0.0.1:9100", "localhost:0", "[::1]:9100", or ":9100" for every
// IPv4 interface (host "0.0.0.0", as Prometheus' own --web.listen-address reads it).
// PORT is 0-65535. Errors quote the text and show the expected form.
[[nodiscard]] Result<HostPort> ParseHostPort(std::string_view text);

}  // namespace krond::http
