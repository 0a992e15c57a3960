#include "http/host_port.h"

#include <gtest/gtest.h>

namespace krond::http {
namespace {

HostPort Parse(std::string_view text) {
  Result<HostPort> parsed = ParseHostPort(text);
  EXPECT_TRUE(parsed) << text << ": " << parsed.error().message;
  return parsed.value_or(HostPort{});
}

std::string ErrorOf(std::string_view text) {
  Result<HostPort> parsed = ParseHostPort(text);
  return parsed ? "" : parsed.error().message;
}

TEST(ParseHostPortTest, Accepts) {
  EXPECT_EQ(Parse("127.0.0.1:9100").host, "127.0.0.1");
  EXPECT_EQ(Parse("127.0.0.1:9100").port, 9100);
  EXPECT_EQ(Parse("localhost:0").host, "localhost");
  EXPECT_EQ(Parse("localhost:0").port, 0);
  EXPECT_EQ(Parse("[::1]:65535").host, "::1");
  EXPECT_EQ(Parse("[::1]:65535").port, 65535);
  EXPECT_EQ(Parse(":9100").host, "0.0.0.0");
  EXPECT_EQ(Parse("metrics.example.com:80").host, "metrics.example.com");
}

TEST(ParseHostPortTest, ToStringBracketsIpv6) {
  EXPECT_EQ(Parse("127.0.0.1:9100").ToString(), "127.0.0.1:9100");
  EXPECT_EQ(Parse("[::1]:9100").ToString(), "[::1]:9100");
}

TEST(ParseHostPortTest, RejectsWithTheExpectedForm) {
  EXPECT_EQ(ErrorOf("9100"),
            "address \"9100\": missing :PORT; expected HOST:PORT, e.g. 127.0.0.1:9100 or "
            "[::1]:9100 (port 0 picks a free port)");
  EXPECT_NE(ErrorOf(""), "");
  EXPECT_NE(ErrorOf("host:").find("missing port"), std::string::npos);
  EXPECT_NE(ErrorOf("host:65536").find("port must be a number from 0 to 65535"), std::string::npos);
  EXPECT_NE(ErrorOf("host:-1").find("port must be a number"), std::string::npos);
  EXPECT_NE(ErrorOf("host:91x").find("port must be a number"), std::string::npos);
  EXPECT_NE(ErrorOf("::1:9100").find("IPv6 addresses go in brackets"), std::string::npos);
  EXPECT_NE(ErrorOf("[::1:9100").find("missing ']'"), std::string::npos);
  EXPECT_NE(ErrorOf("[::1]9100").find("missing :PORT"), std::string::npos);
  EXPECT_NE(ErrorOf("[]:9100").find("empty host"), std::string::npos);
  // Found by fuzz/host_port_fuzzer: a host ToString() could not write back.
  EXPECT_NE(ErrorOf("[[1\xff]:90").find("the host may hold letters, digits"), std::string::npos);
  EXPECT_NE(ErrorOf("a b:90").find("the host may hold"), std::string::npos);
}

}  // namespace
}  // namespace krond::http
