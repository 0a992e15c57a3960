#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kafka/kafka.h"

namespace krond::kafka {
namespace {

// Apache Kafka's own vectors (org.apache.kafka.common.utils.UtilsTest.testMurmur2): where a
// job's runs go must match the Java client, so any Kafka tool can tell.
TEST(PartitionerTest, Murmur2MatchesTheJavaClient) {
  EXPECT_EQ(Murmur2("21"), -973932308);
  EXPECT_EQ(Murmur2("foobar"), -790332482);
  EXPECT_EQ(Murmur2("a-little-bit-long-string"), -985981536);
  EXPECT_EQ(Murmur2("a-little-bit-longer-string"), -1486304829);
  EXPECT_EQ(Murmur2("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"), -58897971);
  EXPECT_EQ(Murmur2("abc"), 479470107);
  EXPECT_EQ(Murmur2(""), 275646681);
}

TEST(PartitionerTest, PartitionIsThePositiveHashModuloTheCount) {
  // toPositive(-790332482) = 1357151166; 1357151166 % 50 = 16.
  EXPECT_EQ(PartitionForKey("foobar", 50), 16);
  EXPECT_EQ(PartitionForKey("foobar", 1), 0);
  // Bytes above 0x7f count as unsigned, as Java's `& 0xff` does ("nächtlich" in UTF-8; the
  // value is from a Python port checked against the vectors above, and the integration test
  // compares a non-ASCII job name with librdkafka's murmur2 partitioner).
  const std::string utf8 =
      "n\xC3\xA4"
      "chtlich";
  EXPECT_EQ(Murmur2(utf8), 500457336);
  EXPECT_EQ(PartitionForKey(utf8, 7), 1);
  for (int32_t n : {1, 2, 3, 12, 64, 1000}) {
    const int32_t p = PartitionForKey("nightly-report", n);
    EXPECT_GE(p, 0);
    EXPECT_LT(p, n);
  }
}

// What per-job routing costs in balance: 10,000 jobs spread over typical partition counts
// leave no partition more than 25% above the mean (the expected spread of a good hash:
// at 64 partitions the mean is 156 jobs, one standard deviation about 12).
// docs/benchmarks.md ("Per-job routing") has the full table, scripts/bench balance.
TEST(PartitionerTest, TenThousandJobsSpreadEvenly) {
  for (int32_t partitions : {2, 3, 6, 12, 24, 64}) {
    std::vector<int> load(static_cast<size_t>(partitions), 0);
    for (int i = 0; i < 10'000; ++i) {
      ++load[static_cast<size_t>(PartitionForKey("job-" + std::to_string(i), partitions))];
    }
    const double mean = 10'000.0 / partitions;
    for (int32_t p = 0; p < partitions; ++p) {
      EXPECT_LE(load[static_cast<size_t>(p)], mean * 1.25) << partitions << " partitions, #" << p;
      EXPECT_GE(load[static_cast<size_t>(p)], mean * 0.75) << partitions << " partitions, #" << p;
    }
  }
}

}  // namespace
}  // namespace krond::kafka
