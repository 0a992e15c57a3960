#include "common/duration.h"

#include <gtest/gtest.h>

namespace krond {
namespace {

using std::chrono::milliseconds;

TEST(ParseDuration, AcceptsGoStyleTerms) {
  EXPECT_EQ(*ParseDuration("90s"), milliseconds(90'000));
  EXPECT_EQ(*ParseDuration("1h30m"), milliseconds(5'400'000));
  EXPECT_EQ(*ParseDuration("250ms"), milliseconds(250));
  EXPECT_EQ(*ParseDuration("2d"), milliseconds(172'800'000));
  EXPECT_EQ(*ParseDuration("1m1s1ms"), milliseconds(61'001));
}

TEST(ParseDuration, RejectsBadInputWithAClearMessage) {
  EXPECT_EQ(ParseDuration("").error().message, "empty duration (e.g. 30s, 1h30m)");
  EXPECT_EQ(ParseDuration("10").error().message,
            "\"10\": missing unit after 10 (use ms, s, m, h or d)");
  EXPECT_EQ(ParseDuration("1x").error().message,
            "\"1x\": unknown unit \"x\" (use ms, s, m, h or d)");
  EXPECT_EQ(ParseDuration("0s").error().message, "\"0s\": must be positive");
  EXPECT_EQ(ParseDuration("-1s").error().message,
            "\"-1s\": expected a number at \"-1s\" (e.g. 30s, 1h30m)");
  EXPECT_EQ(ParseDuration("99999999999999999999d").error().message,
            "\"99999999999999999999d\": too large");
  EXPECT_FALSE(ParseDuration("5000d"));
}

TEST(FormatDuration, IsTheShortestForm) {
  EXPECT_EQ(FormatDuration(milliseconds(5'400'000)), "1h30m");
  EXPECT_EQ(FormatDuration(milliseconds(1'500)), "1s500ms");
  EXPECT_EQ(FormatDuration(milliseconds(0)), "0s");
}

}  // namespace
}  // namespace krond
