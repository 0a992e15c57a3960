#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "common/result.h"

namespace httplib {
class Server;
}

// krond's HTTP server on cpp-httplib, shared by the admin endpoint of every process and the
// console's API: handlers are plain functions from Request to Response, so what they do is
// tested without sockets.
namespace krond::http {

struct Request {
  std::string method{};  // "GET", "POST", ...
  std::string path{};    // decoded, without the query
  // Query parameters, decoded; a repeated name keeps its first value.
  std::map<std::string, std::string> query{};
  // Header names lower-cased.
  std::map<std::string, std::string> headers{};
  std::string body{};
  std::string remote_addr{};

  // The header's value, or "" when absent. `name` lower-case.
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// Writes one chunk of a streamed body; false once the client has gone.
using ChunkWriter = std::function<bool(std::string_view chunk)>;

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // Set for a streamed body (server-sent events): called again and again on the request's
  // thread, writing through the ChunkWriter, until it returns false. It should return at
  // least every second or so, so the server notices a stop.
  std::function<bool(const ChunkWriter&)> stream;
};

using Handler = std::function<Response(const Request&)>;

// Plain struct; defaults suit the admin endpoint.
struct ServerOptions {
  // Request threads; a streamed response holds one for as long as it lasts. Default: 2.
  size_t threads = 2;
  // Larger request bodies get 413. Default: 64 KiB.
  size_t max_body_bytes = 64 * 1024;
  // A client that sends or reads nothing for this long is dropped. Default: 5 s.
  std::chrono::seconds read_timeout{5};
  std::chrono::seconds write_timeout{5};
  // Requests per connection, and how long an idle connection is kept. Default: 1 and 1 s, so
  // Stop() returns at once (httplib's workers wait out idle connections).
  int keep_alive_max = 1;
  std::chrono::seconds keep_alive_timeout{1};
  // HTTPS when both are set: PEM certificate (chain) and private key files.
  std::string tls_cert{};
  std::string tls_key{};
  // The flag that sets the address, named in the "in use" error. Default: --metrics-addr.
  std::string address_flag = "--metrics-addr";
  // Error responses made by the server itself (404 without a handler, 413, 400 for a
  // malformed request) as {"error": "..."} rather than text.
  bool json_errors = false;
};

// Serves `handler` on its own threads (an accept thread and a pool). Start and Stop are
// called from one thread; the handler must be thread-safe and outlive Stop(). Header lines
// are limited to 8 KiB and the request line to 8 KiB (cpp-httplib's compile-time limits).
//
// Note: cpp-httplib sets SIGPIPE to SIG_IGN for the whole process when the server is
// created (writes to a closed socket must not kill the process). Ignored signals survive
// exec, so code that spawns processes resets SIGPIPE to SIG_DFL in the child.
class Server {
 public:
  Server(Handler handler, ServerOptions options = {});
  ~Server();  // stops
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds "HOST:PORT" (see ParseHostPort; port 0 picks a free port) and starts serving.
  // Returns the bound port. Errors: a bad address, the port in use, a host that does not
  // resolve or is not local, unreadable TLS files, already started.
  [[nodiscard]] Result<uint16_t> Start(const std::string& addr);
  // Closes the listening socket, finishes requests in flight and joins the threads.
  // Idempotent; Start may be called again afterwards.
  void Stop();
  bool tls() const { return !options_.tls_cert.empty(); }

 private:
  Handler handler_;
  const ServerOptions options_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
};

// {"error": message}, for JSON error bodies.
std::string JsonError(std::string_view message);

}  // namespace krond::http
