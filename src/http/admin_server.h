#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

#include "common/result.h"
#include "metrics/registry.h"

namespace httplib {
class Server;
}

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
};

// The HTTP endpoint of a krond process, for Prometheus and for orchestrators:
//   GET /metrics  200, the registry in the text format 0.0.4 (kMetricsContentType)
//   GET /healthz  200 "ok", or 503 "not live: <reason>" when liveness fails
//   GET /readyz   200 "ok", or 503 "not ready: <reason>" when readiness fails
//   GET /         200, a list of these endpoints
// Anything else is 404. Responses are text/plain.
//
// Serves on its own threads (an accept thread and a small worker pool). Start and Stop are
// called from one thread (main's); the registry and callbacks must outlive Stop().
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

  // Closes the listening socket, finishes requests in flight and joins the threads.
  // Connections serve one request each, so this returns in milliseconds; a client that
  // connected but sent nothing yet delays it by up to 1 s, one stalled mid-request by up to
  // httplib's 5 s read/write timeouts. Idempotent; Start may be called again afterwards.
  void Stop();

 private:
  const metrics::Registry& registry_;
  const AdminServerOptions options_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

}  // namespace krond::http
