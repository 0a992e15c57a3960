#include "http/server.h"

#include <httplib.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "http/host_port.h"

namespace krond::http {
namespace {

using Deadline = RequestGate::Deadline;

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

int MillisecondsUntil(Deadline deadline) {
  const auto left =
      std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now())
          .count();
  return static_cast<int>(std::clamp<decltype(left)>(left, 0, INT_MAX));
}

// A connection whose head RequestGate already read: httplib reads the head from `head`, then
// the body from the socket, and writes the response, each wait bounded by `deadline` — or,
// once the handler chose to stream (StreamFromHere), each write by the stream timeout.
class GatedStream final : public httplib::Stream {
 public:
  GatedStream(int fd, std::string head, Deadline deadline, std::chrono::seconds stream_timeout)
      : fd_(fd), head_(std::move(head)), deadline_(deadline), stream_timeout_(stream_timeout) {}

  bool is_readable() const override { return offset_ < head_.size() || Wait(POLLIN, deadline_); }
  bool is_writable() const override { return Wait(POLLOUT, WriteDeadline()); }

  ssize_t read(char* ptr, size_t size) override {
    if (offset_ < head_.size()) {
      const size_t n = std::min(size, head_.size() - offset_);
      std::memcpy(ptr, head_.data() + offset_, n);
      offset_ += n;
      return static_cast<ssize_t>(n);
    }
    while (Wait(POLLIN, deadline_)) {
      const ssize_t n = ::recv(fd_, ptr, size, 0);
      if (n >= 0 || (errno != EAGAIN && errno != EINTR)) return n;
    }
    return -1;
  }

  ssize_t write(const char* ptr, size_t size) override {
    while (Wait(POLLOUT, WriteDeadline())) {
      const ssize_t n = ::send(fd_, ptr, size, MSG_NOSIGNAL);
      if (n >= 0 || (errno != EAGAIN && errno != EINTR)) return n;
    }
    return -1;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    Address(::getpeername, ip, port);
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    Address(::getsockname, ip, port);
  }
  socket_t socket() const override { return fd_; }

  // A streamed response lasts as long as the client reads it.
  void StreamFromHere() { streaming_ = true; }

 private:
  Deadline WriteDeadline() const {
    return streaming_ ? std::chrono::steady_clock::now() + stream_timeout_ : deadline_;
  }

  // Whether `events` came before `deadline`.
  bool Wait(short events, Deadline deadline) const {
    while (true) {
      pollfd p{fd_, events, 0};
      const int n = ::poll(&p, 1, MillisecondsUntil(deadline));
      if (n < 0 && errno == EINTR) continue;
      return n > 0;
    }
  }

  template <typename Get>
  void Address(Get get, std::string& ip, int& port) const {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    ip.clear();
    port = 0;
    if (get(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return;
    char host[NI_MAXHOST];
    char serv[NI_MAXSERV];
    if (::getnameinfo(reinterpret_cast<sockaddr*>(&addr), len, host, sizeof host, serv, sizeof serv,
                      NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
      return;
    }
    ip = host;
    port = std::atoi(serv);
  }

  const int fd_;
  const std::string head_;
  size_t offset_ = 0;
  const Deadline deadline_;
  const std::chrono::seconds stream_timeout_;
  bool streaming_ = false;
};

// The request being served on this thread, so that the dispatcher can mark it streaming.
thread_local GatedStream* current_stream = nullptr;

// Whether the head announces a body (Content-Length other than 0, or Transfer-Encoding).
bool HasBody(std::string_view head) {
  const std::string lower = Lower(std::string(head));
  if (lower.find("\ntransfer-encoding:") != std::string::npos) return true;
  const size_t at = lower.find("\ncontent-length:");
  if (at == std::string::npos) return false;
  const size_t value = lower.find_first_not_of(" \t", at + 16);
  return value == std::string::npos || lower[value] != '0' ||
         lower.find_first_not_of("0", value) < lower.find_first_of("\r\n", value);
}

// The path of the request line "GET /healthz HTTP/1.1", or "".
std::string_view PathOf(std::string_view head) {
  const size_t start = head.find(' ');
  if (start == std::string_view::npos) return {};
  const size_t end = head.find_first_of(" ?\r\n", start + 1);
  return head.substr(start + 1, end == std::string_view::npos ? end : end - start - 1);
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

// httplib's accept loop with the request gate in front: accepted sockets go to the gate
// (process_and_close_socket runs on the accept thread, through InlineQueue), and complete
// heads are served on the lanes by httplib's own request handling (process_request).
class Server::GatedServer final : public httplib::Server {
 public:
  explicit GatedServer(const ServerOptions& options)
      : options_(options),
        gate_(options.limits, [this](int fd, std::string head,
                                     Deadline deadline) { OnHead(fd, std::move(head), deadline); }),
        general_(options.threads) {
    new_task_queue = [] { return new InlineQueue(); };
  }
  ~GatedServer() override { StopGate(); }

  Status StartGate() { return gate_.Start(); }
  // httplib listens with a backlog of 5: a burst of connections beyond it waits a second
  // for the client's SYN retry, although the gate would take them at once.
  void RaiseBacklog() { ::listen(svr_sock_, SOMAXCONN); }
  // Closes the connections still sending their head and finishes the requests being
  // served (each within its deadline). Call after httplib's stop(); idempotent.
  void StopGate() {
    gate_.Stop();
    if (lanes_stopped_) return;
    lanes_stopped_ = true;
    probes_.shutdown();
    general_.shutdown();
  }

 private:
  // Runs each task on the calling thread: handing a socket to the gate never blocks.
  class InlineQueue final : public httplib::TaskQueue {
   public:
    void enqueue(std::function<void()> fn) override { fn(); }
    void shutdown() override {}
  };

  bool process_and_close_socket(socket_t sock) override {
    gate_.Add(sock);
    return true;
  }

  void OnHead(int fd, std::string head, Deadline deadline) {
    if (options_.max_body_bytes == 0 && HasBody(head)) {
      // Refused from its head instead of read (a POST of 256 MiB was buffered whole before
      // its 404).
      static constexpr std::string_view kRefused =
          "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      [[maybe_unused]] const ssize_t n =
          ::send(fd, kRefused.data(), kRefused.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      ::close(fd);
      return;
    }
    const std::string_view path = PathOf(head);
    const bool probe = std::find(options_.probe_paths.begin(), options_.probe_paths.end(), path) !=
                       options_.probe_paths.end();
    httplib::ThreadPool& lane = probe ? probes_ : general_;
    lane.enqueue([this, fd, head = std::move(head), deadline]() mutable {
      GatedStream stream(fd, std::move(head), deadline, options_.stream_write_timeout);
      current_stream = &stream;
      bool closed = false;
      process_request(stream, /*close_connection=*/true, closed, nullptr);
      current_stream = nullptr;
      ::close(fd);
    });
  }

  const ServerOptions& options_;
  RequestGate gate_;
  httplib::ThreadPool probes_{1};
  httplib::ThreadPool general_;
  bool lanes_stopped_ = false;
};

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
  GatedServer* gated = nullptr;
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
    const size_t threads = options_.threads + 1;  // + the probe thread a gated server has
    ssl->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    ssl->set_keep_alive_max_count(1);
    ssl->set_read_timeout(options_.tls_read_timeout.count());
    ssl->set_write_timeout(options_.stream_write_timeout.count());
    server = std::move(ssl);
  } else {
    auto plain = std::make_unique<GatedServer>(options_);
    if (Status ok = plain->StartGate(); !ok) return tl::unexpected(ok.error());
    gated = plain.get();
    server = std::move(plain);
  }
  server->set_socket_options(SetSocketOptions);
  // httplib refuses a larger Content-Length with 413 before reading the body.
  server->set_payload_max_length(std::max<size_t>(options_.max_body_bytes, 1));

  auto dispatch = [this](const httplib::Request& req, httplib::Response& res) {
    Response out = handler_(FromHttplib(req));
    NoBrotli(req);
    res.status = out.status;
    for (auto& [k, v] : out.headers) res.set_header(k, v);
    if (out.stream) {
      if (current_stream != nullptr) current_stream->StreamFromHere();
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

  if (gated != nullptr) gated->RaiseBacklog();
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
    if (gated != nullptr) gated->StopGate();
    return MakeError("cannot listen on " + host_port->ToString() + ": the accept loop exited");
  }
  server_ = std::move(server);
  gated_ = gated;
  return static_cast<uint16_t>(port);
}

void Server::Stop() {
  if (server_ == nullptr) return;
  server_->stop();
  if (thread_.joinable()) thread_.join();
  if (gated_ != nullptr) gated_->StopGate();
  gated_ = nullptr;
  server_.reset();
}

}  // namespace krond::http
