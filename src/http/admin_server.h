#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "http/server.h"
#include "metrics/registry.h"

namespace krond::http {

inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

struct AdminServerOptions {
  // Liveness for GET /healthz: success while the process's main loop makes progress (e.g.
  // the scheduler ticked recently); the error message says what is stuck. Called on a
  // server thread, so it must be thread-safe and quick. Default: always live.
  std::function<Status()> liveness;
  // Readiness for GET /readyz: success once the process can do its work (e.g. connected to
  // Kafka and assigned partitions); the error message is the reason it is not. Same rules
  // as liveness. Default: always ready.
  std::function<Status()> readiness;
  // What one request may take (RequestGate::Limits): 10 s from accept to the end of the
  // response, 16 KiB of request line and headers, 128 connections waiting for theirs.
  RequestGate::Limits limits;
};

// The endpoints every krond process serves, for Prometheus and for orchestrators:
//   GET /metrics  200, the registry in the text format 0.0.4 (kMetricsContentType)
//   GET /healthz  200 "ok", or 503 "not live: <reason>" when liveness fails
//   GET /readyz   200 "ok", or 503 "not ready: <reason>" when readiness fails
//   GET /         200, a list of these endpoints
// Anything else is 404 (nullopt from Handle). Responses are text/plain. Thread-safe; the
// registry and callbacks must outlive it.
class AdminEndpoints {
 public:
  AdminEndpoints(const metrics::Registry& registry, AdminServerOptions options = {});
  // The response for `request`, or nullopt when it is not one of these endpoints.
  std::optional<Response> Handle(const Request& request) const;

 private:
  const metrics::Registry& registry_;
  const AdminServerOptions options_;
};

// AdminEndpoints on a Server of their own (ServerOptions' defaults: no request bodies, 413
// unread; 431 for a head over limits.max_head_bytes, 408 for a request not complete within
// limits.deadline). Hostile or slow clients cannot starve the probes: a connection costs no
// thread until its whole head has arrived (RequestGate), and /healthz and /readyz are
// served on a thread of their own, apart from /metrics.
class AdminServer {
 public:
  AdminServer(const metrics::Registry& registry, AdminServerOptions options = {});
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // Binds "HOST:PORT" (see ParseHostPort; port 0 picks a free port) and starts serving.
  // Returns the bound port, which tests and logs need when port 0 was asked. Errors: a bad
  // address, the port in use ("127.0.0.1:9100 is in use: pass --metrics-addr HOST:PORT,
  // port 0 picks a free one"), a host that does not resolve or is not local, already
  // started.
  [[nodiscard]] Result<uint16_t> Start(const std::string& addr);
  // Closes the listening socket and the connections still sending their head, finishes
  // requests in flight and joins the threads. Returns in milliseconds unless a client is
  // slow to read a response, which holds it at most until that request's deadline.
  // Idempotent; Start may be called again afterwards.
  void Stop();

 private:
  AdminEndpoints endpoints_;
  Server server_;
};

}  // namespace krond::http
