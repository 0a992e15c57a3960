#include "http/server.h"

#include <gtest/gtest.h>
#include <httplib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "http/client.h"

namespace krond::http {
namespace {

Response Echo(const Request& r) {
  Response out;
  nlohmann::json j = {{"method", r.method},
                      {"path", r.path},
                      {"q", r.query.count("q") ? r.query.at("q") : ""},
                      {"auth", r.Header("authorization")},
                      {"body", r.body}};
  out.body = j.dump();
  return out;
}

std::string Url(uint16_t port, const char* scheme = "http") {
  return std::string(scheme) + "://127.0.0.1:" + std::to_string(port);
}

TEST(ServerTest, HandsTheDecodedRequestToTheHandler) {
  Server server(Echo, {.max_body_bytes = 1024});
  auto port = server.Start("127.0.0.1:0");
  ASSERT_TRUE(port) << port.error().message;
  auto r = Send(Url(*port), "POST", "/api/v1/x%2Fy?q=" + UrlEncode("a b&c"), "{\"k\":1}",
                {{"Authorization", "Bearer t"}});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200);
  auto j = nlohmann::json::parse(r->body);
  EXPECT_EQ(j["method"], "POST");
  EXPECT_EQ(j["path"], "/api/v1/x/y");
  EXPECT_EQ(j["q"], "a b&c");
  EXPECT_EQ(j["auth"], "Bearer t");
  EXPECT_EQ(j["body"], "{\"k\":1}");
}

TEST(ServerTest, RefusesBodiesOverTheLimitWithAJsonError) {
  Server server(Echo, {.max_body_bytes = 1024, .json_errors = true});
  auto port = server.Start("127.0.0.1:0");
  ASSERT_TRUE(port);
  auto r = Send(Url(*port), "POST", "/", std::string(4096, 'x'), {});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(nlohmann::json::parse(r->body)["error"], "request body too large");
}

TEST(ServerTest, StreamsUntilTheStreamEnds) {
  Server server([](const Request&) {
    Response r;
    r.content_type = "text/event-stream";
    auto n = std::make_shared<int>(0);
    r.stream = [n](const ChunkWriter& write) {
      if (*n == 3) return false;
      return write("data: " + std::to_string((*n)++) + "\n\n");
    };
    return r;
  });
  auto port = server.Start("127.0.0.1:0");
  ASSERT_TRUE(port);
  auto r = Send(Url(*port), "GET", "/events", "", {});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->body, "data: 0\n\ndata: 1\n\ndata: 2\n\n");
}

// Brotli at httplib's quality takes seconds for a large page: gzip instead, or nothing.
TEST(ServerTest, CompressesWithGzipNeverBrotli) {
  Server server([](const Request&) {
    Response r;
    r.body = std::string(100'000, 'x');
    return r;
  });
  auto port = server.Start("127.0.0.1:0");
  ASSERT_TRUE(port);
  httplib::Client client("127.0.0.1", *port);
  client.set_decompress(false);
  auto browser = client.Get("/", {{"Accept-Encoding", "gzip, deflate, br, zstd"}});
  ASSERT_TRUE(browser);
  EXPECT_EQ(browser->get_header_value("Content-Encoding"), "gzip");
  EXPECT_LT(browser->body.size(), 10'000u);
  auto brotli_only = client.Get("/", {{"Accept-Encoding", "br"}});
  ASSERT_TRUE(brotli_only);
  EXPECT_EQ(brotli_only->get_header_value("Content-Encoding"), "");
  EXPECT_EQ(brotli_only->body.size(), 100'000u);
}

TEST(ServerTest, AStreamOutlivesTheRequestDeadline) {
  // The deadline bounds reading the request and writing a plain response; server-sent
  // events last as long as the client reads them.
  Server server(
      [](const Request&) {
        Response r;
        r.content_type = "text/event-stream";
        auto n = std::make_shared<int>(0);
        r.stream = [n](const ChunkWriter& write) {
          if (*n == 4) return false;
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
          return write("data: " + std::to_string((*n)++) + "\n\n");
        };
        return r;
      },
      {.limits = {.deadline = std::chrono::milliseconds(200)}});
  auto port = server.Start("127.0.0.1:0");
  ASSERT_TRUE(port);
  auto r = Send(Url(*port), "GET", "/events", "", {});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->body, "data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\n");
}

TEST(ServerTest, ServesHttpsWithAGivenCertificate) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("krond-tls-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string cert = (dir / "cert.pem").string(), key = (dir / "key.pem").string();
  const std::string cmd =
      "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 "
      "-addext subjectAltName=IP:127.0.0.1 -keyout " +
      key + " -out " + cert + " >/dev/null 2>&1";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "openssl (scripts/setup-deps installs it)";
  Server server(Echo, {.tls_cert = cert, .tls_key = key});
  auto port = server.Start("127.0.0.1:0");
  ASSERT_TRUE(port) << port.error().message;
  auto r = Send(Url(*port, "https"), "GET", "/x", "", {}, {.ca_file = cert});
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->status, 200);
  // A client that does not trust the certificate gets no answer.
  EXPECT_FALSE(Send(Url(*port, "https"), "GET", "/x", "", {}));
  server.Stop();
  Server bad(Echo, {.tls_cert = cert, .tls_key = cert});
  EXPECT_FALSE(bad.Start("127.0.0.1:0"));
  fs::remove_all(dir);
}

TEST(ServerTest, JsonErrorEscapes) {
  EXPECT_EQ(JsonError("a \"b\"\n"), "{\"error\":\"a \\\"b\\\" \"}\n");
}

}  // namespace
}  // namespace krond::http
