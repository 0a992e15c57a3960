#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "common/result.h"
#include "http/request_gate.h"
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

// The HTTP endpoint of a krond process, for Prometheus and for orchestrators:
//   GET /metrics  200, the registry in the text format 0.0.4 (kMetricsContentType)
//   GET /healthz  200 "ok", or 503 "not live: <reason>" when liveness fails
//   GET /readyz   200 "ok", or 503 "not ready: <reason>" when readiness fails
//   GET /         200, a list of these endpoints
// Anything else is 404; a request with a body is 413 (unread), one whose head is over
// limits.max_head_bytes 431, one not complete within limits.deadline 408. Responses are
// text/plain, one request per connection.
//
// Hostile or slow clients cannot starve the probes: a connection costs no thread until its
// whole head has arrived (RequestGate), and /healthz and /readyz are served on a thread of
// their own, apart from /metrics. Serves on its own threads (httplib's accept thread, the
// gate's, and three for complete requests). Start and Stop are called from one thread
// (main's); the registry and callbacks must outlive Stop().
//
// Note: cpp-httplib sets SIGPIPE to SIG_IGN for the whole process when the server is
// created (writes to a closed socket must not kill the process). Ignored signals survive
// exec, so code that spawns processes resets SIGPIPE to SIG_DFL in the child.
class AdminServer {
 public:
  AdminServer(const metrics::Registry& registry, AdminServerOptions options = {});
  // Stops the server if it is running.
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
  class GatedServer;
  const metrics::Registry& registry_;
  const AdminServerOptions options_;
  std::unique_ptr<GatedServer> server_;
  std::thread thread_;
};

}  // namespace krond::http
