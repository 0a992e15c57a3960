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
  for (const char* bad : {"", "2026-03-08", "2026-03-08T07:00:00", "yesterday",
                          "2026-13-01T00:00:00Z", "2026-03-08T07:00:00Zjunk"}) {
    EXPECT_FALSE(ParseRfc3339(bad)) << bad;
  }
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
