#include "http/admin_server.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace krond::http {
namespace {

using std::chrono::steady_clock;

class AdminServerTest : public ::testing::Test {
 protected:
  AdminServerTest() {
    registry_.AddCounter("krond_test_requests_total", "Requests.", {"path"})
        .WithLabels({"/x"})
        .Add(3);
  }

  // Starts `server` on a free loopback port and returns a client for it.
  httplib::Client StartAndConnect(AdminServer& server) {
    Result<uint16_t> port = server.Start("127.0.0.1:0");
    EXPECT_TRUE(port) << port.error().message;
    EXPECT_GT(port.value_or(0), 0);
    httplib::Client client("127.0.0.1", port.value_or(0));
    client.set_connection_timeout(std::chrono::seconds(5));
    client.set_read_timeout(std::chrono::seconds(5));
    return client;
  }

  metrics::Registry registry_;
};

// A client on a raw socket, for requests no well-behaved client library sends.
class RawClient {
 public:
  explicit RawClient(uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    EXPECT_EQ(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  }
  ~RawClient() { ::close(fd_); }
  // False once the server has closed the connection.
  bool Send(const std::string& bytes) {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }
  // Everything the server sends until it closes the connection (or `timeout` passes).
  std::string ReadAll(std::chrono::milliseconds timeout) {
    std::string out;
    const auto end = steady_clock::now() + timeout;
    while (steady_clock::now() < end) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char buffer[4096];
      const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n <= 0) break;
      out.append(buffer, static_cast<size_t>(n));
    }
    return out;
  }

 private:
  int fd_;
};

// A listening IPv4 socket on a free loopback port, standing in for another process.
class Squatter {
 public:
  Squatter() : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(addr);
    auto* raw = reinterpret_cast<sockaddr*>(&addr);
    EXPECT_EQ(::bind(fd_, raw, length), 0);
    EXPECT_EQ(::listen(fd_, 1), 0);
    EXPECT_EQ(::getsockname(fd_, raw, &length), 0);
    port_ = ntohs(addr.sin_port);
  }
  ~Squatter() { ::close(fd_); }
  uint16_t Port() const { return port_; }

 private:
  int fd_;
  uint16_t port_ = 0;
};

TEST_F(AdminServerTest, ServesMetrics) {
  AdminServer server(registry_);
  httplib::Client client = StartAndConnect(server);
  httplib::Result res = client.Get("/metrics");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(res->body, registry_.Render());
  EXPECT_NE(res->body.find("krond_test_requests_total{path=\"/x\"} 3\n"), std::string::npos);
}

TEST_F(AdminServerTest, HealthzFollowsTheLivenessCallback) {
  std::atomic<bool> stuck = false;
  AdminServer server(registry_, {.liveness = [&]() -> Status {
                                   if (stuck) return MakeError("no tick for 93s");
                                   return {};
                                 },
                                 .readiness = nullptr,
                                 .limits = {}});
  httplib::Client client = StartAndConnect(server);
  httplib::Result res = client.Get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "ok\n");
  stuck = true;
  res = client.Get("/healthz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_EQ(res->body, "not live: no tick for 93s\n");
}

TEST_F(AdminServerTest, ReadyzIs503UntilTheCallbackSaysReady) {
  std::atomic<bool> connected = false;
  AdminServer server(registry_, {.liveness = nullptr,
                                 .readiness = [&]() -> Status {
                                   if (!connected) return MakeError("not connected to Kafka");
                                   return {};
                                 },
                                 .limits = {}});
  httplib::Client client = StartAndConnect(server);
  httplib::Result res = client.Get("/readyz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 503);
  EXPECT_EQ(res->body, "not ready: not connected to Kafka\n");
  connected = true;
  res = client.Get("/readyz");
  ASSERT_TRUE(res);
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(res->body, "ok\n");
}

TEST_F(AdminServerTest, DefaultsAreLiveAndReadyAndUnknownPathsAre404) {
  AdminServer server(registry_);
  httplib::Client client = StartAndConnect(server);
  EXPECT_EQ(client.Get("/healthz")->status, 200);
  EXPECT_EQ(client.Get("/readyz")->status, 200);
  EXPECT_EQ(client.Get("/")->status, 200);
  EXPECT_EQ(client.Get("/nope")->status, 404);
}

TEST_F(AdminServerTest, PortInUseIsAClearError) {
  Squatter squatter;
  const std::string addr = "127.0.0.1:" + std::to_string(squatter.Port());
  AdminServer server(registry_);
  Result<uint16_t> port = server.Start(addr);
  ASSERT_FALSE(port);
  EXPECT_EQ(port.error().message,
            addr + " is in use: pass --metrics-addr HOST:PORT, port 0 picks a free one");
}

// httplib's default socket options set SO_REUSEPORT, which would let a second krond share
// the port silently; the server must refuse instead.
TEST_F(AdminServerTest, SecondServerOnTheSamePortIsRefused) {
  AdminServer first(registry_);
  Result<uint16_t> port = first.Start("127.0.0.1:0");
  ASSERT_TRUE(port);
  AdminServer second(registry_);
  Result<uint16_t> again = second.Start("127.0.0.1:" + std::to_string(*port));
  ASSERT_FALSE(again);
  EXPECT_NE(again.error().message.find("is in use"), std::string::npos);
}

TEST_F(AdminServerTest, BadAddressesAreErrors) {
  AdminServer server(registry_);
  Result<uint16_t> port = server.Start("9100");
  ASSERT_FALSE(port);
  EXPECT_NE(port.error().message.find("expected HOST:PORT"), std::string::npos);
  port = server.Start("192.0.2.1:0");  // TEST-NET-1: not an address of this host.
  ASSERT_FALSE(port);
  EXPECT_EQ(port.error().message.rfind("cannot listen on 192.0.2.1:0: ", 0), 0u)
      << port.error().message;
}

TEST_F(AdminServerTest, StartTwiceIsAnError) {
  AdminServer server(registry_);
  ASSERT_TRUE(server.Start("127.0.0.1:0"));
  Result<uint16_t> again = server.Start("127.0.0.1:0");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().message, "server already started");
}

TEST_F(AdminServerTest, StopIsIdempotentFastAndAllowsRestart) {
  AdminServer server(registry_);
  httplib::Client client = StartAndConnect(server);
  client.set_keep_alive(true);  // An idle keep-alive connection must not delay Stop.
  ASSERT_TRUE(client.Get("/metrics"));
  const auto start = steady_clock::now();
  server.Stop();
  EXPECT_LT(steady_clock::now() - start, std::chrono::milliseconds(500));
  server.Stop();
  EXPECT_FALSE(client.Get("/metrics"));

  Result<uint16_t> port = server.Start("127.0.0.1:0");
  ASSERT_TRUE(port) << port.error().message;
  httplib::Client again("127.0.0.1", *port);
  EXPECT_EQ(again.Get("/healthz")->status, 200);
}

TEST_F(AdminServerTest, IdleConnectionDoesNotDelayStop) {
  AdminServer server(registry_);
  Result<uint16_t> port = server.Start("127.0.0.1:0");
  ASSERT_TRUE(port);
  RawClient idle(*port);
  idle.Send("GET /metr");
  const auto start = steady_clock::now();
  server.Stop();
  EXPECT_LT(steady_clock::now() - start, std::chrono::milliseconds(500));
  EXPECT_EQ(idle.ReadAll(std::chrono::seconds(2)), "") << "closed without a response";
}

// ---- Hostile clients ----------------------------------------------------------------------

// Issue 19: two clients sending a byte every 2.5 s held both threads of the admin server,
// and three /healthz probes in a row timed out at 3 s: the kubelet would have restarted the
// pod. Slow clients now wait for their head in the gate, holding no thread.
TEST_F(AdminServerTest, SlowlorisClientsCannotStarveHealthz) {
  AdminServer server(registry_);
  Result<uint16_t> port = server.Start("127.0.0.1:0");
  ASSERT_TRUE(port);
  std::vector<std::unique_ptr<RawClient>> slow;
  for (int i = 0; i < 20; ++i) {
    slow.push_back(std::make_unique<RawClient>(*port));
    slow.back()->Send(i % 2 == 0 ? "GET /metrics HTTP/1.1\r\nHost: x\r\n" : "GET /hea");
  }
  httplib::Client client("127.0.0.1", *port);
  client.set_connection_timeout(std::chrono::seconds(3));
  client.set_read_timeout(std::chrono::seconds(3));
  for (int probe = 0; probe < 5; ++probe) {
    for (auto& c : slow) c->Send("X");  // one more byte each: still no complete head
    const auto start = steady_clock::now();
    httplib::Result res = client.Get("/healthz");
    ASSERT_TRUE(res) << "probe " << probe << ": " << httplib::to_string(res.error());
    EXPECT_EQ(res->status, 200);
    EXPECT_LT(steady_clock::now() - start, std::chrono::seconds(1)) << "probe " << probe;
    res = client.Get("/metrics");
    ASSERT_TRUE(res) << "scrape " << probe;
    EXPECT_EQ(res->status, 200);
  }
}

TEST_F(AdminServerTest, ARequestNotCompleteWithinItsDeadlineIsClosedWith408) {
  AdminServer server(registry_, {.liveness = nullptr,
                                 .readiness = nullptr,
                                 .limits = {.deadline = std::chrono::milliseconds(300)}});
  Result<uint16_t> port = server.Start("127.0.0.1:0");
  ASSERT_TRUE(port);
  RawClient slow(*port);
  const auto start = steady_clock::now();
  // A byte every 50 ms: under any per-read timeout, never done.
  std::string reply;
  for (char c : std::string("GET /healthz HTTP/1.1\r\nHost: example\r\n")) {
    if (!slow.Send(std::string(1, c))) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    if (steady_clock::now() - start > std::chrono::seconds(2)) break;
  }
  reply = slow.ReadAll(std::chrono::seconds(2));
  EXPECT_THAT(reply, ::testing::StartsWith("HTTP/1.1 408 Request Timeout\r\n"));
  EXPECT_LT(steady_clock::now() - start, std::chrono::seconds(2));
}

TEST_F(AdminServerTest, HeadersOverTheLimitAre431) {
  AdminServer server(registry_);
  Result<uint16_t> port = server.Start("127.0.0.1:0");
  ASSERT_TRUE(port);
  RawClient big(*port);
  std::string request = "GET /metrics HTTP/1.1\r\n";
  for (int i = 0; i < 400; ++i)
    request += "X-Filler-" + std::to_string(i) + ": " + std::string(40, 'f') + "\r\n";
  big.Send(request);
  EXPECT_THAT(big.ReadAll(std::chrono::seconds(2)),
              ::testing::StartsWith("HTTP/1.1 431 Request Header Fields Too Large\r\n"));
  // A head just under the limit is fine.
  RawClient fits(*port);
  std::string under = "GET /healthz HTTP/1.1\r\n";
  while (under.size() < 16 * 1024 - 100) under += "X-Filler: " + std::string(88, 'f') + "\r\n";
  fits.Send(under + "\r\n");
  EXPECT_THAT(fits.ReadAll(std::chrono::seconds(2)), ::testing::StartsWith("HTTP/1.1 200 OK\r\n"));
}

// Issue 19: a POST announcing 256 MiB was read into memory (13 -> 79 MB RSS after 64 MiB)
// before its 404. The admin endpoints take no body: it is refused from the head, unread.
TEST_F(AdminServerTest, ARequestWithABodyIsRefusedUnread) {
  AdminServer server(registry_);
  Result<uint16_t> port = server.Start("127.0.0.1:0");
  ASSERT_TRUE(port);
  for (const char* head : {"POST /metrics HTTP/1.1\r\nContent-Length: 268435456\r\n\r\n",
                           "PUT / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n",
                           "GET /healthz HTTP/1.1\r\ncontent-length:  12\r\n\r\n"}) {
    RawClient client(*port);
    client.Send(head);
    client.Send(std::string(64 * 1024, 'b'));  // the start of the body, never the rest
    EXPECT_THAT(client.ReadAll(std::chrono::seconds(2)),
                ::testing::StartsWith("HTTP/1.1 413 Payload Too Large\r\n"))
        << head;
  }
  RawClient empty_body(*port);
  empty_body.Send("GET /healthz HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
  EXPECT_THAT(empty_body.ReadAll(std::chrono::seconds(2)),
              ::testing::StartsWith("HTTP/1.1 200 OK"));
}

TEST_F(AdminServerTest, AFloodOfIdleConnectionsClosesTheOldestNotTheNewest) {
  AdminServer server(registry_,
                     {.liveness = nullptr, .readiness = nullptr, .limits = {.max_connections = 8}});
  Result<uint16_t> port = server.Start("127.0.0.1:0");
  ASSERT_TRUE(port);
  std::vector<std::unique_ptr<RawClient>> idle;
  for (int i = 0; i < 30; ++i) idle.push_back(std::make_unique<RawClient>(*port));
  httplib::Client client("127.0.0.1", *port);
  client.set_read_timeout(std::chrono::seconds(3));
  httplib::Result res = client.Get("/healthz");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
  EXPECT_EQ(idle.front()->ReadAll(std::chrono::seconds(2)), "") << "the oldest was closed";
}

TEST_F(AdminServerTest, StopRightAfterStartDoesNotHang) {
  for (int i = 0; i < 20; ++i) {
    AdminServer server(registry_);
    ASSERT_TRUE(server.Start("127.0.0.1:0"));
  }
}

TEST_F(AdminServerTest, ServesIpv6Loopback) {
  const int probe = ::socket(AF_INET6, SOCK_STREAM, 0);
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_addr = in6addr_loopback;
  const bool has_ipv6 =
      probe >= 0 && ::bind(probe, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  if (probe >= 0) ::close(probe);
  if (!has_ipv6) GTEST_SKIP() << "no IPv6 loopback in this environment";

  AdminServer server(registry_);
  Result<uint16_t> port = server.Start("[::1]:0");
  ASSERT_TRUE(port) << port.error().message;
  httplib::Client client("::1", *port);
  httplib::Result res = client.Get("/healthz");
  ASSERT_TRUE(res) << httplib::to_string(res.error());
  EXPECT_EQ(res->status, 200);
}

}  // namespace
}  // namespace krond::http
