#include "console/kafka_status.h"

#include <gtest/gtest.h>

#include "common/time_format.h"

namespace krond::console {
namespace {

using std::chrono::seconds;

const SystemTime kT0 = *ParseRfc3339("2026-03-08T12:00:00Z");

TEST(KafkaStatusTest, ReachableUntilAnError) {
  KafkaStatus status(seconds(30));
  EXPECT_TRUE(status.Get(kT0).reachable);
  EXPECT_EQ(status.Get(kT0).last_error, "");
  status.OnError("127.0.0.1:9092/1: Connect failed: Connection refused", kT0);
  const KafkaState down = status.Get(kT0 + seconds(5));
  EXPECT_FALSE(down.reachable);
  EXPECT_EQ(down.last_error, "127.0.0.1:9092/1: Connect failed: Connection refused");
  EXPECT_EQ(down.last_error_at, kT0);
}

TEST(KafkaStatusTest, ASuccessAfterTheErrorMeansReachableAtOnce) {
  KafkaStatus status(seconds(30));
  status.OnError("all brokers down", kT0);
  status.OnSuccess(kT0 - seconds(1));  // an older success says nothing
  EXPECT_FALSE(status.Get(kT0 + seconds(2)).reachable);
  status.OnSuccess(kT0 + seconds(2));
  const KafkaState up = status.Get(kT0 + seconds(2));
  EXPECT_TRUE(up.reachable);
  EXPECT_EQ(up.last_error, "all brokers down");  // still shown as the last error
  status.OnError("all brokers down", kT0 + seconds(3));
  EXPECT_FALSE(status.Get(kT0 + seconds(3)).reachable);
}

TEST(KafkaStatusTest, AQuietSpellMeansReachableAgain) {
  KafkaStatus status(seconds(30));
  status.OnError("all brokers down", kT0);
  status.OnError("Connection refused", kT0 + seconds(10));
  EXPECT_FALSE(status.Get(kT0 + seconds(39)).reachable);
  EXPECT_TRUE(status.Get(kT0 + seconds(40)).reachable);
}

}  // namespace
}  // namespace krond::console
