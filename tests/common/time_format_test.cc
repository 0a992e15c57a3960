#include "common/time_format.h"

#include <date/date.h>
#include <date/tz.h>
#include <gtest/gtest.h>

namespace krond {
namespace {

TEST(Rfc3339, ParsesZuluOffsetsAndFractions) {
  auto z = ParseRfc3339("2026-03-08T07:00:00Z");
  ASSERT_TRUE(z);
  EXPECT_EQ(FormatRfc3339Utc(*z), "2026-03-08T07:00:00.000Z");
  EXPECT_EQ(*ParseRfc3339("2026-03-08T02:00:00-05:00"), *z);
  EXPECT_EQ(FormatRfc3339Utc(*ParseRfc3339("2026-03-08T07:00:00.250Z")),
            "2026-03-08T07:00:00.250Z");
  EXPECT_EQ(*ParseRfc3339("2026-03-08T12:30:00+05:30"), *z);
}

TEST(Rfc3339, RejectsNonsense) {
  for (const char* bad :
       {"", "2026-03-08", "2026-03-08T07:00:00", "yesterday", "2026-13-01T00:00:00Z",
        "2026-03-08T07:00:00Zjunk", "2026-02-30T00:00:00Z", "2026-03-08T24:00:00Z",
        "2026-03-08T07:00:60Z", "2026-03-08T07:00:00.Z", "2026-03-08T07:00:00+24:00",
        "2026-03-08T07:00:00+0100", "+026-03-08T07:00:00Z"}) {
    EXPECT_FALSE(ParseRfc3339(bad)) << bad;
  }
}

// Inputs fuzz/rfc3339_fuzzer found: date::parse made NaN seconds of the first and negated
// INT64_MIN for the offset of the second (undefined behaviour).
TEST(Rfc3339, RejectsMalformedInputSafely) {
  EXPECT_FALSE(ParseRfc3339("2026-03-08T00::0700.000Z"));
  EXPECT_FALSE(
      ParseRfc3339(std::string("0001-01-01T00:00:00-\x06\x00"
                               "22:59",
                               27)));
  const std::string long_text(100'000, '7');
  auto error = ParseRfc3339(long_text);
  ASSERT_FALSE(error);
  EXPECT_LT(error.error().message.size(), 200u) << "quotes only the start";
}

TEST(Rfc3339, KeepsFractionsToTheMillisecondAndCoversTheYearsOfAFourDigitField) {
  EXPECT_EQ(FormatRfc3339Utc(*ParseRfc3339("2026-03-08T07:00:00.123456789Z")),
            "2026-03-08T07:00:00.123Z");
  EXPECT_EQ(FormatRfc3339Utc(*ParseRfc3339("2026-03-08T07:00:00.5+00:00")),
            "2026-03-08T07:00:00.500Z");
  EXPECT_EQ(FormatRfc3339Utc(*ParseRfc3339("0000-01-01T00:00:00Z")), "0000-01-01T00:00:00.000Z");
  EXPECT_EQ(FormatRfc3339Utc(*ParseRfc3339("9999-12-31T23:59:59.999Z")),
            "9999-12-31T23:59:59.999Z");
  // Years beyond four digits once in UTC: FormatRfc3339Utc could not write them back.
  EXPECT_FALSE(ParseRfc3339("9999-12-31T23:59:59.999-23:59"));
  EXPECT_FALSE(ParseRfc3339("0000-01-01T00:00:00+00:01"));
}

TEST(Rfc3339, FormatsInAZoneWithItsOffset) {
  auto ny = LocateZone("America/New_York");
  ASSERT_TRUE(ny);
  EXPECT_EQ(FormatRfc3339InZone(*ParseRfc3339("2026-03-08T07:00:00Z"), *ny),
            "2026-03-08T03:00:00-04:00");
  EXPECT_EQ(FormatRfc3339InZone(*ParseRfc3339("2026-01-08T07:00:00.5Z"), *ny),
            "2026-01-08T02:00:00.500-05:00");
  EXPECT_EQ(FormatRfc3339InZone(*ParseRfc3339("2026-01-08T07:00:00Z"), *LocateZone("UTC")),
            "2026-01-08T07:00:00Z");
}

TEST(LocateZone, ExplainsUnknownZones) {
  EXPECT_EQ(LocateZone("Mars/Olympus").error().message,
            "unknown time zone \"Mars/Olympus\" (use an IANA name such as Europe/Dublin or UTC)");
}

}  // namespace
}  // namespace krond

namespace krond {
namespace {

TEST(TimeFormatTest, MalformedTimesAreErrorsNotNaN) {
  for (const char* bad : {"2026-03-01T00:.00:00Z", "2026-03-01T00:00:.0Z", "2026-03-01T00:00:00.Z",
                          "2026-03-01T00:00:00", "2026-03-01T0a:00:00Z", "2026/03/01T00:00:00Z"}) {
    EXPECT_FALSE(ParseRfc3339(bad)) << bad;
  }
  EXPECT_TRUE(ParseRfc3339("2026-03-01T00:00:00.5+01:00"));
}

TEST(TimeFormatTest, FastUtcFormatMatchesTheDateLibrary) {
  // Every millisecond, second and day boundary case across leap years and before 1970.
  int64_t ms = -2'208'988'800'000;  // 1900-01-01
  for (int i = 0; i < 20'000; ++i) {
    const SystemTime t{std::chrono::milliseconds(ms)};
    ASSERT_EQ(FormatRfc3339Utc(t), date::format("%FT%TZ", t)) << ms;
    ms += 86'399'999 * 3 + 1'234'567 * (i % 7);
  }
}

}  // namespace
}  // namespace krond
