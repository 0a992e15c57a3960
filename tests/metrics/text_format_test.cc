#include "metrics/text_format.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

namespace krond::metrics {
namespace {

TEST(FormatValueTest, WholeNumbersHaveNoExponentOrFraction) {
  EXPECT_EQ(FormatValue(0), "0");
  EXPECT_EQ(FormatValue(-0.0), "0");
  EXPECT_EQ(FormatValue(1), "1");
  EXPECT_EQ(FormatValue(-42), "-42");
  EXPECT_EQ(FormatValue(1000000), "1000000");
  EXPECT_EQ(FormatValue(1772953200), "1772953200");
  EXPECT_EQ(FormatValue(1e15), "1000000000000000");
}

TEST(FormatValueTest, FractionsUseTheShortestRoundTrip) {
  EXPECT_EQ(FormatValue(0.25), "0.25");
  EXPECT_EQ(FormatValue(-2.5), "-2.5");
  EXPECT_EQ(FormatValue(0.1), "0.1");
  EXPECT_EQ(FormatValue(0.001), "0.001");
  EXPECT_EQ(FormatValue(0.0004), "0.0004");
  EXPECT_EQ(FormatValue(120.003), "120.003");
  EXPECT_EQ(FormatValue(0.00004), "4e-05");
  EXPECT_EQ(FormatValue(1.5e-7), "1.5e-07");
  EXPECT_EQ(FormatValue(9007199254740993.0 * 4), "3.602879701896397e+16");
  EXPECT_EQ(FormatValue(1e300), "1e+300");
  const double third = 1.0 / 3.0;
  EXPECT_EQ(std::stod(FormatValue(third)), third);
}

TEST(FormatValueTest, SpecialValuesAsPrometheusSpellsThem) {
  EXPECT_EQ(FormatValue(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(FormatValue(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(FormatValue(std::nan("")), "NaN");
}

TEST(EscapeTest, LabelValuesEscapeBackslashQuoteAndNewline) {
  std::string out;
  AppendEscapedLabelValue(out, "a\\b\"c\nd'e\t");
  EXPECT_EQ(out, "a\\\\b\\\"c\\nd'e\t");
}

TEST(EscapeTest, HelpEscapesBackslashAndNewlineButNotQuotes) {
  std::string out;
  AppendEscapedHelp(out, "say \"hi\"\\\nnext");
  EXPECT_EQ(out, "say \"hi\"\\\\\\nnext");
}

TEST(NameTest, MetricNames) {
  EXPECT_TRUE(IsValidMetricName("krond_runs_total"));
  EXPECT_TRUE(IsValidMetricName("_x9"));
  EXPECT_TRUE(IsValidMetricName("A"));
  EXPECT_FALSE(IsValidMetricName(""));
  EXPECT_FALSE(IsValidMetricName("9lives"));
  EXPECT_FALSE(IsValidMetricName("krond-runs"));
  EXPECT_FALSE(IsValidMetricName("krond:runs"));
  EXPECT_FALSE(IsValidMetricName("krond runs"));
  EXPECT_FALSE(IsValidMetricName("kr\xc3\xb6nd"));
}

TEST(NameTest, LabelNames) {
  EXPECT_TRUE(IsValidLabelName("cluster"));
  EXPECT_TRUE(IsValidLabelName("_private"));
  EXPECT_TRUE(IsValidLabelName("a1"));
  EXPECT_FALSE(IsValidLabelName("__name__"));
  EXPECT_FALSE(IsValidLabelName("1a"));
  EXPECT_FALSE(IsValidLabelName("a:b"));
  EXPECT_FALSE(IsValidLabelName(""));
}

TEST(SanitizeUtf8Test, KeepsValidTextAndReplacesBadBytes) {
  EXPECT_EQ(SanitizeUtf8("plain"), "plain");
  EXPECT_EQ(SanitizeUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x99\x82"),
            "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x99\x82");
  const std::string kReplacement = "\xEF\xBF\xBD";
  EXPECT_EQ(SanitizeUtf8("a\xff"
                         "b"),
            "a" + kReplacement + "b");
  EXPECT_EQ(SanitizeUtf8("\xc3"), kReplacement);                     // Truncated.
  EXPECT_EQ(SanitizeUtf8("\xc0\xaf"), kReplacement + kReplacement);  // Overlong.
  EXPECT_EQ(SanitizeUtf8("\xed\xa0\x80"),
            kReplacement + kReplacement + kReplacement);                        // Surrogate.
  EXPECT_EQ(SanitizeUtf8("\xf4\x90\x80\x80").size(), 4 * kReplacement.size());  // > U+10FFFF.
}

}  // namespace
}  // namespace krond::metrics
