#pragma once

#include <chrono>
#include <map>
#include <string>
#include <string_view>

#include "common/result.h"

// A small HTTP client for krond's CLI commands that talk to the console's API.
namespace krond::http {

struct ClientOptions {
  // Connect, read and write timeout each. Default: 10 s.
  std::chrono::seconds timeout{10};
  // HTTPS: a PEM file of the CAs to trust instead of the system's; empty: the system's.
  std::string ca_file{};
};

struct ClientResponse {
  int status = 0;
  std::string body;
  std::string content_type;
};

// Sends one request to `base_url` ("http://127.0.0.1:8080" or "https://…", no path) +
// `target` (path and query, already encoded). A response of any status is a success; an
// error means no response (refused, timed out, TLS failure), with the reason.
[[nodiscard]] Result<ClientResponse> Send(const std::string& base_url, const std::string& method,
                                          const std::string& target, const std::string& body,
                                          const std::map<std::string, std::string>& headers,
                                          const ClientOptions& options = {});

// Percent-encodes `text` for a query value or a path segment (RFC 3986 unreserved kept).
std::string UrlEncode(std::string_view text);

}  // namespace krond::http
