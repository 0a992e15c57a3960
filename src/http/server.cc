#include "http/server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "http/host_port.h"

namespace krond::http {
namespace {

// Replaces httplib's default, which sets SO_REUSEPORT: with it a second krond on the same
// host would bind the same port silently and the kernel would split requests between the
// two processes. SO_REUSEADDR alone still allows a quick restart over TIME_WAIT connections.
void SetSocketOptions(int sock) {
  int yes = 1;
  ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
}

std::string Lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

Request FromHttplib(const httplib::Request& req) {
  Request out;
  out.method = req.method;
  out.path = req.path;
  for (const auto& [k, v] : req.params) out.query.emplace(k, v);
  for (const auto& [k, v] : req.headers) out.headers.emplace(Lower(k), v);
  out.body = req.body;
  out.remote_addr = req.remote_addr;
  return out;
}

bool Readable(const std::string& path) { return std::ifstream(path).good(); }

// httplib compresses a response with the best encoding the client accepts, and prefers
// Brotli, which it runs at the slowest quality: 5 s for a 1.7 MB JSON page here (gzip: 70 ms
// more than none). Browsers always accept "br", so it is taken out of the request before
// httplib reads it for the response; gzip is still used. The request object is httplib's own
// (not const); it reaches the handler as a const reference only.
void NoBrotli(const httplib::Request& req) {
  auto& headers = const_cast<httplib::Request&>(req).headers;
  for (auto it = headers.begin(); it != headers.end(); ++it) {
    if (Lower(it->first) != "accept-encoding") continue;
    std::string kept;
    size_t pos = 0;
    const std::string& value = it->second;
    while (pos <= value.size()) {
      size_t comma = value.find(',', pos);
      if (comma == std::string::npos) comma = value.size();
      std::string coding = value.substr(pos, comma - pos);
      const size_t start = coding.find_first_not_of(' ');
      coding = start == std::string::npos ? "" : coding.substr(start);
      if (!coding.empty() && coding.rfind("br", 0) != 0)
        kept += (kept.empty() ? "" : ", ") + coding;
      pos = comma + 1;
    }
    it->second = kept;
  }
}

const char* ReasonText(int status) {
  switch (status) {
    case 400:
      return "bad request";
    case 404:
      return "not found";
    case 405:
      return "method not allowed";
    case 413:
      return "request body too large";
    case 414:
      return "request URI too long";
    default:
      return "request failed";
  }
}

}  // namespace

std::string JsonError(std::string_view message) {
  std::string out = "{\"error\":\"";
  for (char c : message) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out + "\"}\n";
}

Server::Server(Handler handler, ServerOptions options)
    : handler_(std::move(handler)), options_(std::move(options)) {}

Server::~Server() { Stop(); }

Result<uint16_t> Server::Start(const std::string& addr) {
  if (server_ != nullptr) return MakeError("server already started");
  Result<HostPort> host_port = ParseHostPort(addr);
  if (!host_port) return tl::unexpected(host_port.error());
  if (options_.tls_cert.empty() != options_.tls_key.empty()) {
    return MakeError("TLS needs both a certificate and a key");
  }

  std::unique_ptr<httplib::Server> server;
  if (!options_.tls_cert.empty()) {
    for (const std::string& file : {options_.tls_cert, options_.tls_key}) {
      if (!Readable(file)) return MakeError("cannot read " + file);
    }
    auto ssl =
        std::make_unique<httplib::SSLServer>(options_.tls_cert.c_str(), options_.tls_key.c_str());
    if (!ssl->is_valid()) {
      return MakeError("TLS: " + options_.tls_cert + " and " + options_.tls_key +
                       " are not a valid PEM certificate and key");
    }
    server = std::move(ssl);
  } else {
    server = std::make_unique<httplib::Server>();
  }
  const size_t threads = options_.threads;
  server->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  server->set_socket_options(SetSocketOptions);
  server->set_keep_alive_max_count(static_cast<size_t>(options_.keep_alive_max));
  server->set_keep_alive_timeout(options_.keep_alive_timeout.count());
  server->set_read_timeout(options_.read_timeout.count());
  server->set_write_timeout(options_.write_timeout.count());
  server->set_payload_max_length(options_.max_body_bytes);

  auto dispatch = [this](const httplib::Request& req, httplib::Response& res) {
    Response out = handler_(FromHttplib(req));
    NoBrotli(req);
    res.status = out.status;
    for (auto& [k, v] : out.headers) res.set_header(k, v);
    if (out.stream) {
      auto stream = std::move(out.stream);
      res.set_chunked_content_provider(out.content_type, [stream](size_t, httplib::DataSink& sink) {
        bool client_gone = false;
        const bool more = stream([&](std::string_view chunk) {
          client_gone =
              client_gone || !sink.is_writable() || !sink.write(chunk.data(), chunk.size());
          return !client_gone;
        });
        if (client_gone) return false;  // drop the connection
        if (!more) sink.done();         // a clean end of the chunked body
        return true;
      });
      return;
    }
    res.set_content(out.body, out.content_type);
  };
  const char* kAny = R"(/.*)";
  server->Get(kAny, dispatch);
  server->Post(kAny, dispatch);
  server->Put(kAny, dispatch);
  server->Delete(kAny, dispatch);
  server->Patch(kAny, dispatch);
  server->Options(kAny, dispatch);
  const bool json = options_.json_errors;
  server->set_error_handler([json](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (json) {
      res.set_content(JsonError(ReasonText(res.status)), "application/json");
    } else {
      res.set_content(std::string(ReasonText(res.status)) + "\n", "text/plain; charset=utf-8");
    }
  });

  // httplib reports failure as false/-1; errno still holds the failed bind's or listen's
  // error, since the cleanup after it (close, freeaddrinfo) does not touch errno on success.
  errno = 0;
  int port = -1;
  if (host_port->port == 0) {
    port = server->bind_to_any_port(host_port->host);
  } else if (server->bind_to_port(host_port->host, host_port->port)) {
    port = host_port->port;
  }
  if (port < 0) {
    const int error = errno;
    const std::string where = host_port->ToString();
    if (error == EADDRINUSE) {
      return MakeError(where + " is in use: pass " + options_.address_flag +
                       " HOST:PORT, port 0 picks a free one");
    }
    return MakeError("cannot listen on " + where + ": " +
                     (error != 0 ? std::strerror(error) : "the host does not resolve"));
  }

  // Shared with the thread, which sets it when the loop ends, long after Start returned.
  auto exited = std::make_shared<std::atomic<bool>>(false);
  httplib::Server* raw = server.get();
  thread_ = std::thread([raw, exited] {
    raw->listen_after_bind();
    *exited = true;
  });
  // httplib's stop() does nothing until the accept loop has started, so a Stop() right
  // after Start() would hang in join. Wait for the loop; it starts within microseconds.
  while (!raw->is_running() && !exited->load()) std::this_thread::yield();
  if (exited->load()) {
    thread_.join();
    return MakeError("cannot listen on " + host_port->ToString() + ": the accept loop exited");
  }
  server_ = std::move(server);
  return static_cast<uint16_t>(port);
}

void Server::Stop() {
  if (server_ == nullptr) return;
  server_->stop();
  if (thread_.joinable()) thread_.join();
  server_.reset();
}

}  // namespace krond::http
