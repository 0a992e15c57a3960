// ScanTopic without a broker: what a stopping process sees when Kafka does not answer.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>

#include "kafka/rdkafka_client.h"

namespace krond::kafka {
namespace {

using ::testing::HasSubstr;

TEST(ScanTopic, AStoppedScanEndsWithinAStepWhileKafkaDoesNotAnswer) {
  ClientConfig config;
  config.brokers = "127.0.0.1:1";  // nothing listens: every request waits for its timeout
  ScanOptions options;
  options.timeout = std::chrono::seconds(60);
  std::atomic<int> asked{0};
  options.stopped = [&asked] { return ++asked > 1; };  // stopped once the first step is over
  const auto began = std::chrono::steady_clock::now();
  Status read = ScanTopic(config, "t", options, [](const ConsumedMessage&) { return true; });
  const auto took = std::chrono::steady_clock::now() - began;
  ASSERT_FALSE(read);
  EXPECT_THAT(read.error().message, HasSubstr("reading t stopped"));
  // A step is 500 ms; the margin is for a loaded machine, far below the 60 s timeout that a
  // scan waited out before it could be stopped.
  EXPECT_LT(took, std::chrono::seconds(15));
  EXPECT_GE(asked.load(), 2);
}

}  // namespace
}  // namespace krond::kafka
