#include "http/admin_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>

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
                                 .readiness = nullptr});
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
  AdminServer server(registry_, {.liveness = nullptr, .readiness = [&]() -> Status {
                                   if (!connected) return MakeError("not connected to Kafka");
                                   return {};
                                 }});
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

TEST_F(AdminServerTest, IdleConnectionDelaysStopByAtMostASecond) {
  AdminServer server(registry_);
  Result<uint16_t> port = server.Start("127.0.0.1:0");
  ASSERT_TRUE(port);
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(*port);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  const auto start = steady_clock::now();
  server.Stop();
  EXPECT_LT(steady_clock::now() - start, std::chrono::milliseconds(1500));
  ::close(fd);
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
