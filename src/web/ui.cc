#include "web/ui.h"

#include <string>

namespace krond::web {
namespace {

// Whether an If-None-Match value ("a", "b" or *) names `etag`. Weak validators (W/"...")
// match too: a proxy that compressed the page may have weakened it.
bool Matches(std::string_view if_none_match, std::string_view etag) {
  if (if_none_match == "*") return true;
  size_t pos = 0;
  while (pos < if_none_match.size()) {
    size_t comma = if_none_match.find(',', pos);
    if (comma == std::string_view::npos) comma = if_none_match.size();
    std::string_view tag = if_none_match.substr(pos, comma - pos);
    while (!tag.empty() && tag.front() == ' ') tag.remove_prefix(1);
    while (!tag.empty() && tag.back() == ' ') tag.remove_suffix(1);
    if (tag.substr(0, 2) == "W/") tag.remove_prefix(2);
    if (tag == etag) return true;
    pos = comma + 1;
  }
  return false;
}

}  // namespace

std::optional<http::Response> Ui::Handle(const http::Request& request) const {
  if (request.method != "GET" && request.method != "HEAD") return std::nullopt;
  for (const Asset& asset : assets_) {
    if (asset.path != request.path) continue;
    http::Response r;
    r.content_type = std::string(asset.content_type);
    r.headers = {{"ETag", std::string(asset.etag)},
                 {"Cache-Control", "no-cache"},
                 {"Content-Security-Policy", kContentSecurityPolicy},
                 {"X-Content-Type-Options", "nosniff"},
                 {"Referrer-Policy", "no-referrer"},
                 {"X-Frame-Options", "DENY"}};
    if (Matches(request.Header("if-none-match"), asset.etag)) {
      r.status = 304;
    } else {
      r.body = std::string(asset.body);
    }
    return r;
  }
  return std::nullopt;
}

}  // namespace krond::web
