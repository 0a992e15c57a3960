#include "common/byte_size.h"

#include <gtest/gtest.h>

namespace krond {
namespace {

TEST(ByteSizeTest, UnitsArePowersOf1024InAnyCase) {
  EXPECT_EQ(ParseByteSize("1048576"), 1048576u);
  EXPECT_EQ(ParseByteSize("7b"), 7u);
  EXPECT_EQ(ParseByteSize("512KiB"), 512u << 10);
  EXPECT_EQ(ParseByteSize("256MiB"), 256u << 20);
  EXPECT_EQ(ParseByteSize("256m"), 256u << 20);
  EXPECT_EQ(ParseByteSize("2GB"), uint64_t{2} << 30);
}

TEST(ByteSizeTest, RejectsZeroJunkUnknownUnitsAndOverflow) {
  EXPECT_FALSE(ParseByteSize("0"));
  EXPECT_FALSE(ParseByteSize("0MiB"));
  EXPECT_FALSE(ParseByteSize(""));
  EXPECT_FALSE(ParseByteSize("MiB"));
  EXPECT_FALSE(ParseByteSize("-1"));
  EXPECT_FALSE(ParseByteSize("12 MiB"));
  EXPECT_FALSE(ParseByteSize("3TiB"));
  EXPECT_FALSE(ParseByteSize("17179869184GiB"));
}

}  // namespace
}  // namespace krond
