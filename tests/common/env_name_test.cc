#include "common/env_name.h"

#include <gtest/gtest.h>

#include <string>

namespace krond {
namespace {

TEST(EnvNameTest, PosixPortableNamesOnly) {
  for (const char* good : {"PATH", "_", "a", "LC_ALL", "x1", "_1_"}) {
    EXPECT_TRUE(IsValidEnvName(good)) << good;
  }
  for (const char* bad : {"", "1A", "A-B", "A=B", "A B", "Ä", "A.B"}) {
    EXPECT_FALSE(IsValidEnvName(bad)) << bad;
  }
  EXPECT_TRUE(IsValidEnvName(std::string(256, 'A')));
  EXPECT_FALSE(IsValidEnvName(std::string(257, 'A')));
}

TEST(EnvNameTest, KrondNamesAreReserved) {
  EXPECT_TRUE(IsReservedEnvName("KROND_RUN_ID"));
  EXPECT_TRUE(IsReservedEnvName("KROND_ANYTHING_LATER"));
  EXPECT_FALSE(IsReservedEnvName("KROND"));
  EXPECT_FALSE(IsReservedEnvName("krond_job"));
  EXPECT_FALSE(IsReservedEnvName("PATH"));
}

}  // namespace
}  // namespace krond
