#include "http/admin_server.h"

#include <httplib.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstring>
#include <utility>

#include "http/host_port.h"
#include "http/request_gate.h"

namespace krond::http {
namespace {

// Complete requests are served here (slow clients wait in the RequestGate, not in these):
// probes on a lane of their own, so a slow /metrics reader never delays /healthz.
constexpr std::size_t kGeneralThreads = 2;
constexpr std::size_t kProbeThreads = 1;
constexpr std::string_view kTextContentType = "text/plain; charset=utf-8";
constexpr std::string_view kIndex =
    "krond admin endpoints:\n"
    "  /metrics  Prometheus metrics\n"
    "  /healthz  liveness: 200 while the main loop makes progress\n"
    "  /readyz   readiness: 200 once ready to work, else 503 with the reason\n";

// Replaces httplib's default, which sets SO_REUSEPORT: with it a second krond on the same
// host would bind the same port silently and the kernel would split scrapes between the two
// processes. SO_REUSEADDR alone still allows a quick restart over TIME_WAIT connections.
void SetSocketOptions(int sock) {
  int yes = 1;
  ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
}

void Probe(const std::function<Status()>& check, std::string_view failure_prefix,
           httplib::Response& res) {
  Status status = check ? check() : Status{};
  if (status) {
    res.set_content("ok\n", std::string(kTextContentType));
    return;
  }
  res.status = 503;
  res.set_content(std::string(failure_prefix) + status.error().message + "\n",
                  std::string(kTextContentType));
}

using Deadline = RequestGate::Deadline;

int MillisecondsUntil(Deadline deadline) {
  const auto left =
      std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now())
          .count();
  return static_cast<int>(std::clamp<decltype(left)>(left, 0, INT_MAX));
}

// A connection whose head RequestGate already read: httplib reads the head from `head`, then
// anything more from the socket, and writes the response, each wait bounded by `deadline`.
class GatedStream final : public httplib::Stream {
 public:
  GatedStream(int fd, std::string head, Deadline deadline)
      : fd_(fd), head_(std::move(head)), deadline_(deadline) {}

  bool is_readable() const override { return offset_ < head_.size() || Wait(POLLIN); }
  bool is_writable() const override { return Wait(POLLOUT); }

  ssize_t read(char* ptr, size_t size) override {
    if (offset_ < head_.size()) {
      const size_t n = std::min(size, head_.size() - offset_);
      std::memcpy(ptr, head_.data() + offset_, n);
      offset_ += n;
      return static_cast<ssize_t>(n);
    }
    while (Wait(POLLIN)) {
      const ssize_t n = ::recv(fd_, ptr, size, 0);
      if (n >= 0 || (errno != EAGAIN && errno != EINTR)) return n;
    }
    return -1;
  }

  ssize_t write(const char* ptr, size_t size) override {
    while (Wait(POLLOUT)) {
      const ssize_t n = ::send(fd_, ptr, size, MSG_NOSIGNAL);
      if (n >= 0 || (errno != EAGAIN && errno != EINTR)) return n;
    }
    return -1;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip.clear();
    port = 0;
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip.clear();
    port = 0;
  }
  socket_t socket() const override { return fd_; }

 private:
  // Whether `events` came before the request's deadline.
  bool Wait(short events) const {
    while (true) {
      pollfd p{fd_, events, 0};
      const int n = ::poll(&p, 1, MillisecondsUntil(deadline_));
      if (n < 0 && errno == EINTR) continue;
      return n > 0;
    }
  }

  const int fd_;
  const std::string head_;
  size_t offset_ = 0;
  const Deadline deadline_;
};

// The admin endpoints take no body: a request announcing one is refused from its head
// instead of read (a POST of 256 MiB was buffered whole before its 404).
bool HasBody(std::string_view head) {
  std::string lower(head);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
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

}  // namespace

// httplib's accept loop with the request gate in front: accepted sockets go to the gate
// (process_and_close_socket runs on the accept thread, through InlineQueue), and complete
// heads are served on the lanes by httplib's own request handling (process_request).
class AdminServer::GatedServer final : public httplib::Server {
 public:
  explicit GatedServer(RequestGate::Limits limits)
      : gate_(limits, [this](int fd, std::string head, Deadline deadline) {
          OnHead(fd, std::move(head), deadline);
        }) {
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
    if (HasBody(head)) {
      static constexpr std::string_view kRefused =
          "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      [[maybe_unused]] const ssize_t n =
          ::send(fd, kRefused.data(), kRefused.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      ::close(fd);
      return;
    }
    const std::string_view path = PathOf(head);
    httplib::ThreadPool& lane = path == "/healthz" || path == "/readyz" ? probes_ : general_;
    lane.enqueue([this, fd, head = std::move(head), deadline]() mutable {
      GatedStream stream(fd, std::move(head), deadline);
      bool closed = false;
      process_request(stream, /*close_connection=*/true, closed, nullptr);
      ::close(fd);
    });
  }

  RequestGate gate_;
  httplib::ThreadPool probes_{kProbeThreads};
  httplib::ThreadPool general_{kGeneralThreads};
  bool lanes_stopped_ = false;
};

AdminServer::AdminServer(const metrics::Registry& registry, AdminServerOptions options)
    : registry_(registry), options_(std::move(options)) {}

AdminServer::~AdminServer() { Stop(); }

Result<uint16_t> AdminServer::Start(const std::string& addr) {
  if (server_ != nullptr) return MakeError("admin server already started");
  Result<HostPort> host_port = ParseHostPort(addr);
  if (!host_port) return tl::unexpected(host_port.error());

  auto server = std::make_unique<GatedServer>(options_.limits);
  if (Status gate = server->StartGate(); !gate) return tl::unexpected(gate.error());
  server->set_socket_options(SetSocketOptions);
  server->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(registry_.Render(), std::string(kMetricsContentType));
  });
  server->Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    Probe(options_.liveness, "not live: ", res);
  });
  server->Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    Probe(options_.readiness, "not ready: ", res);
  });
  server->Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(std::string(kIndex), std::string(kTextContentType));
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
      return MakeError(where +
                       " is in use: pass --metrics-addr HOST:PORT, port 0 picks a free one");
    }
    return MakeError("cannot listen on " + where + ": " +
                     (error != 0 ? std::strerror(error) : "the host does not resolve"));
  }

  server->RaiseBacklog();
  std::atomic<bool> exited = false;
  GatedServer* raw = server.get();
  thread_ = std::thread([raw, &exited] {
    raw->listen_after_bind();
    exited = true;
  });
  // httplib's stop() does nothing until the accept loop has started, so a Stop() right
  // after Start() would hang in join. Wait for the loop; it starts within microseconds.
  while (!raw->is_running() && !exited.load()) std::this_thread::yield();
  if (exited.load()) {
    thread_.join();
    raw->StopGate();
    return MakeError("cannot listen on " + host_port->ToString() + ": the accept loop exited");
  }
  server_ = std::move(server);
  return static_cast<uint16_t>(port);
}

void AdminServer::Stop() {
  if (server_ == nullptr) return;
  server_->stop();
  if (thread_.joinable()) thread_.join();
  server_->StopGate();
  server_.reset();
}

}  // namespace krond::http
