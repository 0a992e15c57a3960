#include "http/host_port.h"

#include <charconv>

namespace krond::http {
namespace {

Result<HostPort> Invalid(std::string_view text, std::string_view why) {
  return MakeError("address \"" + std::string(text) + "\": " + std::string(why) +
                   "; expected HOST:PORT, e.g. 127.0.0.1:9100 or [::1]:9100 (port 0 picks a "
                   "free port)");
}

}  // namespace

std::string HostPort::ToString() const {
  const bool bracket = host.find(':') != std::string::npos;
  return (bracket ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<HostPort> ParseHostPort(std::string_view text) {
  if (text.empty()) return Invalid(text, "empty");
  std::string_view host;
  std::string_view port;
  if (text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return Invalid(text, "missing ']'");
    host = text.substr(1, close - 1);
    if (host.empty()) return Invalid(text, "empty host");
    const std::string_view rest = text.substr(close + 1);
    if (rest.empty() || rest.front() != ':') return Invalid(text, "missing :PORT");
    port = rest.substr(1);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return Invalid(text, "missing :PORT");
    host = text.substr(0, colon);
    if (host.find(':') != std::string_view::npos) {
      return Invalid(text, "IPv6 addresses go in brackets");
    }
    port = text.substr(colon + 1);
  }
  // A name or an IP literal: nothing a resolver would not take, and nothing that ToString()
  // could not write back (a stray bracket, say).
  for (char c : host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '-' || c == '_' || c == ':' || c == '%';
    if (!ok) return Invalid(text, "the host may hold letters, digits and . - _ : % only");
  }
  if (port.empty()) return Invalid(text, "missing port");
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (ec != std::errc() || end != port.data() + port.size() || value > 65535) {
    return Invalid(text, "port must be a number from 0 to 65535");
  }
  return HostPort{.host = host.empty() ? "0.0.0.0" : std::string(host),
                  .port = static_cast<uint16_t>(value)};
}

}  // namespace krond::http
