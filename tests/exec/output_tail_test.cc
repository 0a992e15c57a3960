#include "exec/output_tail.h"

#include <gtest/gtest.h>

#include <string>

namespace krond::exec {
namespace {

TEST(OutputTailTest, KeepsEverythingBelowCapacity) {
  OutputTail tail(8);
  tail.Append("abc");
  tail.Append("de");
  EXPECT_EQ(tail.Contents(), "abcde");
  EXPECT_EQ(tail.TotalBytes(), 5u);
  EXPECT_EQ(tail.DroppedBytes(), 0u);
}

TEST(OutputTailTest, KeepsTheLastBytesAcrossWrapAround) {
  OutputTail tail(4);
  tail.Append("abc");
  tail.Append("def");  // Wraps: buffer holds c d e f.
  EXPECT_EQ(tail.Contents(), "cdef");
  tail.Append("g");
  EXPECT_EQ(tail.Contents(), "defg");
  EXPECT_EQ(tail.TotalBytes(), 7u);
  EXPECT_EQ(tail.DroppedBytes(), 3u);
}

TEST(OutputTailTest, ExactlyFullThenOneMore) {
  OutputTail tail(3);
  tail.Append("abc");
  EXPECT_EQ(tail.Contents(), "abc");
  EXPECT_EQ(tail.DroppedBytes(), 0u);
  tail.Append("d");
  EXPECT_EQ(tail.Contents(), "bcd");
  EXPECT_EQ(tail.DroppedBytes(), 1u);
}

TEST(OutputTailTest, ChunkLargerThanCapacityKeepsItsEnd) {
  OutputTail tail(4);
  tail.Append("xy");
  tail.Append("0123456789");
  EXPECT_EQ(tail.Contents(), "6789");
  EXPECT_EQ(tail.TotalBytes(), 12u);
  EXPECT_EQ(tail.DroppedBytes(), 8u);
}

TEST(OutputTailTest, ZeroCapacityCountsOnly) {
  OutputTail tail(0);
  tail.Append("hello");
  EXPECT_EQ(tail.Contents(), "");
  EXPECT_EQ(tail.TotalBytes(), 5u);
  EXPECT_EQ(tail.DroppedBytes(), 5u);
}

TEST(OutputTailTest, BinaryBytesSurvive) {
  OutputTail tail(4);
  const std::string binary("\0\xff\0\x80\x01", 5);
  tail.Append(binary);
  EXPECT_EQ(tail.Contents(), binary.substr(1));
}

// Compares against the obvious implementation over many chunk sizes.
TEST(OutputTailTest, MatchesNaiveModel) {
  for (std::size_t capacity : {1u, 2u, 7u, 16u}) {
    OutputTail tail(capacity);
    std::string all;
    for (int i = 0; i < 200; ++i) {
      const std::string chunk(static_cast<std::size_t>(i % 11), static_cast<char>('a' + i % 26));
      tail.Append(chunk);
      all += chunk;
      const std::size_t keep = std::min(capacity, all.size());
      ASSERT_EQ(tail.Contents(), all.substr(all.size() - keep)) << capacity << " " << i;
      ASSERT_EQ(tail.TotalBytes(), all.size());
      ASSERT_EQ(tail.DroppedBytes(), all.size() - keep);
    }
  }
}

}  // namespace
}  // namespace krond::exec
