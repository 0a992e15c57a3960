#pragma once

#include <optional>
#include <span>

#include "http/server.h"
#include "web/assets.h"

// Serving the web console's pages (docs/console.md): the single page at "/" and its files,
// with the headers a browser needs to run it safely.
namespace krond::web {

// The Content-Security-Policy of every page: scripts, styles and connections from the
// console's own origin only, nothing inline, no frames, no plug-ins. A job name or output
// that slipped past the page's escaping still could not run script.
inline constexpr const char* kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

// Immutable after construction: thread-safe.
class Ui {
 public:
  // `assets`: what to serve; the embedded files by default. Must outlive the Ui.
  explicit Ui(std::span<const Asset> assets = EmbeddedAssets()) : assets_(assets) {}

  // The response to a GET or HEAD of an asset's path: 200 with the body, or 304 when the
  // request's If-None-Match names the asset's ETag. nullopt for any other request (the
  // caller answers it: the API, the admin endpoints, a 404). Every response carries the
  // CSP above, nosniff, no-referrer and `Cache-Control: no-cache` (the browser revalidates
  // with the ETag, so a new binary's pages are used at once and an unchanged page costs a
  // 304).
  std::optional<http::Response> Handle(const http::Request& request) const;

 private:
  std::span<const Asset> assets_;
};

}  // namespace krond::web
