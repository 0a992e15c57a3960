#include "http/admin_server.h"

#include <utility>

namespace krond::http {
namespace {

constexpr std::string_view kTextContentType = "text/plain; charset=utf-8";
constexpr std::string_view kIndex =
    "krond admin endpoints:\n"
    "  /metrics  Prometheus metrics\n"
    "  /healthz  liveness: 200 while the main loop makes progress\n"
    "  /readyz   readiness: 200 once ready to work, else 503 with the reason\n";

Response Text(int status, std::string body) {
  Response r;
  r.status = status;
  r.content_type = std::string(kTextContentType);
  r.body = std::move(body);
  return r;
}

Response Probe(const std::function<Status()>& check, std::string_view failure_prefix) {
  Status status = check ? check() : Status{};
  if (status) return Text(200, "ok\n");
  return Text(503, std::string(failure_prefix) + status.error().message + "\n");
}

}  // namespace

AdminEndpoints::AdminEndpoints(const metrics::Registry& registry, AdminServerOptions options)
    : registry_(registry), options_(std::move(options)) {}

std::optional<Response> AdminEndpoints::Handle(const Request& request) const {
  if (request.method != "GET") return std::nullopt;
  if (request.path == "/metrics") {
    Response r = Text(200, registry_.Render());
    r.content_type = std::string(kMetricsContentType);
    return r;
  }
  if (request.path == "/healthz") return Probe(options_.liveness, "not live: ");
  if (request.path == "/readyz") return Probe(options_.readiness, "not ready: ");
  if (request.path == "/") return Text(200, std::string(kIndex));
  return std::nullopt;
}

AdminServer::AdminServer(const metrics::Registry& registry, AdminServerOptions options)
    : endpoints_(registry, options),
      server_(
          [this](const Request& request) {
            return endpoints_.Handle(request).value_or(Text(404, "not found\n"));
          },
          ServerOptions{.limits = options.limits}) {}

AdminServer::~AdminServer() { Stop(); }

Result<uint16_t> AdminServer::Start(const std::string& addr) { return server_.Start(addr); }

void AdminServer::Stop() { server_.Stop(); }

}  // namespace krond::http
