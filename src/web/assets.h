#pragma once

#include <span>
#include <string_view>

// The web console's files as built into the binary (src/web/CMakeLists.txt).
namespace krond::web {

struct Asset {
  std::string_view path;          // URL path, e.g. "/assets/app.js"
  std::string_view content_type;  // e.g. "text/javascript; charset=utf-8"
  std::string_view body;
  std::string_view etag;  // a strong ETag, quoted: "\"<first 32 hex digits of SHA-256>\""
};

// Every embedded file; static storage, immutable: thread-safe. Defined in the generated
// web_assets.cc.
std::span<const Asset> EmbeddedAssets();

}  // namespace krond::web
