#include "http/admin_server.h"

#include <httplib.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <utility>

#include "http/host_port.h"

namespace krond::http {
namespace {

// Scrapes and probes are few and small; two workers keep a slow scrape from blocking a
// probe without spending threads on an admin port.
constexpr std::size_t kWorkerThreads = 2;
constexpr time_t kKeepAliveTimeoutSeconds = 1;
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

}  // namespace

AdminServer::AdminServer(const metrics::Registry& registry, AdminServerOptions options)
    : registry_(registry), options_(std::move(options)) {}

AdminServer::~AdminServer() { Stop(); }

Result<uint16_t> AdminServer::Start(const std::string& addr) {
  if (server_ != nullptr) return MakeError("admin server already started");
  Result<HostPort> host_port = ParseHostPort(addr);
  if (!host_port) return tl::unexpected(host_port.error());

  auto server = std::make_unique<httplib::Server>();
  server->new_task_queue = [] { return new httplib::ThreadPool(kWorkerThreads); };
  server->set_socket_options(SetSocketOptions);
  // httplib's workers wait out the keep-alive timeout (5 s by default) on idle connections
  // before they notice stop(). One request per connection costs a scraper nothing every 15 s
  // and lets Stop() return at once; an idle connection that never sends a request holds a
  // worker (and Stop) for at most kKeepAliveTimeoutSeconds.
  server->set_keep_alive_max_count(1);
  server->set_keep_alive_timeout(kKeepAliveTimeoutSeconds);
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

  std::atomic<bool> exited = false;
  httplib::Server* raw = server.get();
  thread_ = std::thread([raw, &exited] {
    raw->listen_after_bind();
    exited = true;
  });
  // httplib's stop() does nothing until the accept loop has started, so a Stop() right
  // after Start() would hang in join. Wait for the loop; it starts within microseconds.
  while (!raw->is_running() && !exited.load()) std::this_thread::yield();
  if (exited.load()) {
    thread_.join();
    return MakeError("cannot listen on " + host_port->ToString() + ": the accept loop exited");
  }
  server_ = std::move(server);
  return static_cast<uint16_t>(port);
}

void AdminServer::Stop() {
  if (server_ == nullptr) return;
  server_->stop();
  if (thread_.joinable()) thread_.join();
  server_.reset();
}

}  // namespace krond::http
