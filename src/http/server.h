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
#include "http/request_gate.h"

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
  // Threads for complete requests; a streamed response holds one for as long as it lasts.
  // Default: 2.
  size_t threads = 2;
  // Paths served on one thread of their own, so that slow /metrics or API requests never
  // delay an orchestrator's probe. Default: /healthz and /readyz.
  std::vector<std::string> probe_paths{"/healthz", "/readyz"};
  // Larger request bodies get 413. 0: the server takes no bodies, and a request announcing
  // one is refused from its head, unread. Default: 0.
  size_t max_body_bytes = 0;
  // What one request may take (RequestGate::Limits): its head and body must arrive within
  // limits.deadline of the accept (else 408), the head be at most limits.max_head_bytes
  // (else 431). Default: 10 s, 16 KiB, 128 connections waiting for their head.
  RequestGate::Limits limits{};
  // How long one write of a streamed response (server-sent events) may wait for a client
  // that does not read; other responses must be written within limits.deadline. Default: 5 s.
  std::chrono::seconds stream_write_timeout{5};
  // HTTPS when both are set: PEM certificate (chain) and private key files. The TLS
  // handshake needs httplib's own connection handling, so an HTTPS server has no
  // RequestGate: each connection holds a thread, bounded by tls_read_timeout per read (and
  // stream_write_timeout per write), and keep-alive is off.
  std::string tls_cert{};
  std::string tls_key{};
  std::chrono::seconds tls_read_timeout{5};
  // The flag that sets the address, named in the "in use" error. Default: --metrics-addr.
  std::string address_flag = "--metrics-addr";
  // Error responses made by the server itself (404 without a handler, 413, 400 for a
  // malformed request) as {"error": "..."} rather than text.
  bool json_errors = false;
};

// Serves `handler`, one request per connection. Over plain HTTP a slow or stalled client
// costs no thread until its whole head has arrived (RequestGate), and probe_paths have a
// thread of their own. Serves on its own threads (httplib's accept thread, the gate's, the
// probe thread and `threads` more). Start and Stop are called from one thread; the handler
// must be thread-safe and outlive Stop().
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
  // Closes the listening socket and the connections still sending their head, ends
  // streamed responses, finishes requests in flight and joins the threads. Returns in
  // milliseconds unless a client is slow to read a response, which holds it at most until
  // that request's deadline. Idempotent; Start may be called again afterwards.
  void Stop();
  bool tls() const { return !options_.tls_cert.empty(); }

 private:
  class GatedServer;
  Handler handler_;
  const ServerOptions options_;
  std::unique_ptr<httplib::Server> server_;
  GatedServer* gated_ = nullptr;  // server_, when it is gated (plain HTTP)
  std::thread thread_;
};

// {"error": message}, for JSON error bodies.
std::string JsonError(std::string_view message);

}  // namespace krond::http
