#include "cron/schedule.h"

#include <date/tz.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "cron/fire_times.h"

namespace krond::cron {
namespace {

using testing::At;
using ::testing::ElementsAre;
using testing::Fires;
using ::testing::HasSubstr;
using testing::ParseError;
using testing::Zone;

TEST(CompiledTest, FitsInOneCacheLine) { EXPECT_LE(sizeof(Schedule::Compiled), 64u); }

TEST(ScheduleSyntaxTest, EveryFiveMinutes) {
  EXPECT_THAT(Fires("*/5 * * * *", "UTC", "2026-01-01T00:02:30Z", 3),
              ElementsAre("2026-01-01T00:05:00Z", "2026-01-01T00:10:00Z", "2026-01-01T00:15:00Z"));
}

TEST(ScheduleSyntaxTest, NextIsStrictlyAfter) {
  EXPECT_THAT(Fires("0 * * * *", "UTC", "2026-01-01T01:00:00Z", 1),
              ElementsAre("2026-01-01T02:00:00Z"));
  EXPECT_THAT(Fires("0 * * * *", "UTC", "2026-01-01T00:59:59.999Z", 1),
              ElementsAre("2026-01-01T01:00:00Z"));
}

TEST(ScheduleSyntaxTest, SingleValuesRangesAndLists) {
  EXPECT_THAT(Fires("30 2 * * *", "UTC", "2026-01-01T00:00:00Z", 2),
              ElementsAre("2026-01-01T02:30:00Z", "2026-01-02T02:30:00Z"));
  EXPECT_THAT(Fires("0 9-11 * * *", "UTC", "2026-01-01T00:00:00Z", 4),
              ElementsAre("2026-01-01T09:00:00Z", "2026-01-01T10:00:00Z", "2026-01-01T11:00:00Z",
                          "2026-01-02T09:00:00Z"));
  EXPECT_THAT(Fires("0 1,5,20-21 * * *", "UTC", "2026-01-01T00:00:00Z", 5),
              ElementsAre("2026-01-01T01:00:00Z", "2026-01-01T05:00:00Z", "2026-01-01T20:00:00Z",
                          "2026-01-01T21:00:00Z", "2026-01-02T01:00:00Z"));
}

TEST(ScheduleSyntaxTest, Steps) {
  // a-b/s
  EXPECT_THAT(Fires("10-30/10 * * * *", "UTC", "2026-01-01T00:00:00Z", 4),
              ElementsAre("2026-01-01T00:10:00Z", "2026-01-01T00:20:00Z", "2026-01-01T00:30:00Z",
                          "2026-01-01T01:10:00Z"));
  // a/s runs to the field's maximum.
  EXPECT_THAT(Fires("5/20 * * * *", "UTC", "2026-01-01T00:00:00Z", 4),
              ElementsAre("2026-01-01T00:05:00Z", "2026-01-01T00:25:00Z", "2026-01-01T00:45:00Z",
                          "2026-01-01T01:05:00Z"));
  // A list mixing a value and a stepped range.
  EXPECT_THAT(Fires("0 0 1,10-20/5 * *", "UTC", "2026-01-01T00:00:00Z", 5),
              ElementsAre("2026-01-10T00:00:00Z", "2026-01-15T00:00:00Z", "2026-01-20T00:00:00Z",
                          "2026-02-01T00:00:00Z", "2026-02-10T00:00:00Z"));
  // A step larger than the range keeps only the start.
  EXPECT_THAT(Fires("10-20/15 * * * *", "UTC", "2026-01-01T00:00:00Z", 2),
              ElementsAre("2026-01-01T00:10:00Z", "2026-01-01T01:10:00Z"));
  EXPECT_THAT(Fires("*/40 * * * *", "UTC", "2026-01-01T00:00:00Z", 2),
              ElementsAre("2026-01-01T00:40:00Z", "2026-01-01T01:00:00Z"));
}

TEST(ScheduleSyntaxTest, SixFieldsHaveSecondsFirst) {
  EXPECT_THAT(Fires("*/20 * * * * *", "UTC", "2026-01-01T00:00:00Z", 4),
              ElementsAre("2026-01-01T00:00:20Z", "2026-01-01T00:00:40Z", "2026-01-01T00:01:00Z",
                          "2026-01-01T00:01:20Z"));
  EXPECT_THAT(Fires("30 15 10 * * *", "UTC", "2026-01-01T10:15:30Z", 1),
              ElementsAre("2026-01-02T10:15:30Z"));
}

TEST(ScheduleSyntaxTest, MonthAndDayNamesAreCaseInsensitive) {
  EXPECT_THAT(Fires("0 0 1 JAN,jul *", "UTC", "2026-01-01T00:00:00Z", 2),
              ElementsAre("2026-07-01T00:00:00Z", "2027-01-01T00:00:00Z"));
  EXPECT_THAT(Fires("0 0 1 Mar-apr *", "UTC", "2026-01-01T00:00:00Z", 2),
              ElementsAre("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z"));
  // 2026-01-01 is a Thursday.
  EXPECT_THAT(Fires("0 9 * * MON-FRI", "UTC", "2026-01-01T10:00:00Z", 3),
              ElementsAre("2026-01-02T09:00:00Z", "2026-01-05T09:00:00Z", "2026-01-06T09:00:00Z"));
  EXPECT_EQ(Fires("0 9 * * mon-fri", "UTC", "2026-01-01T10:00:00Z", 5),
            Fires("0 9 * * 1-5", "UTC", "2026-01-01T10:00:00Z", 5));
  EXPECT_EQ(Fires("0 9 * * sat,Sun", "UTC", "2026-01-01T10:00:00Z", 5),
            Fires("0 9 * * 6,0", "UTC", "2026-01-01T10:00:00Z", 5));
}

TEST(ScheduleSyntaxTest, SundayIsZeroOrSeven) {
  const auto zero = Fires("0 0 * * 0", "UTC", "2026-01-01T00:00:00Z", 3);
  EXPECT_THAT(zero,
              ElementsAre("2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z", "2026-01-18T00:00:00Z"));
  EXPECT_EQ(Fires("0 0 * * 7", "UTC", "2026-01-01T00:00:00Z", 3), zero);
  EXPECT_EQ(Fires("0 0 * * SUN", "UTC", "2026-01-01T00:00:00Z", 3), zero);
  // Ranges may end on Sunday as 7 or by name.
  EXPECT_EQ(Fires("0 0 * * 5-7", "UTC", "2026-01-01T00:00:00Z", 6),
            Fires("0 0 * * FRI-SUN", "UTC", "2026-01-01T00:00:00Z", 6));
  EXPECT_THAT(Fires("0 0 * * 5-7", "UTC", "2026-01-01T00:00:00Z", 3),
              ElementsAre("2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z"));
}

TEST(ScheduleSyntaxTest, QuestionMarkIsStarInDayFields) {
  EXPECT_EQ(Fires("0 0 ? * MON", "UTC", "2026-01-01T00:00:00Z", 3),
            Fires("0 0 * * MON", "UTC", "2026-01-01T00:00:00Z", 3));
  EXPECT_EQ(Fires("0 0 15 * ?", "UTC", "2026-01-01T00:00:00Z", 3),
            Fires("0 0 15 * *", "UTC", "2026-01-01T00:00:00Z", 3));
}

TEST(ScheduleSyntaxTest, VixieRuleOrsRestrictedDayFields) {
  // Both restricted: the 1st, the 15th and every Monday.
  EXPECT_THAT(Fires("0 0 1,15 * MON", "UTC", "2025-12-31T00:00:00Z", 6),
              ElementsAre("2026-01-01T00:00:00Z", "2026-01-05T00:00:00Z", "2026-01-12T00:00:00Z",
                          "2026-01-15T00:00:00Z", "2026-01-19T00:00:00Z", "2026-01-26T00:00:00Z"));
  // Day-of-month starts with `*`: both must match (1st, 11th, 21st or 31st that is a Monday).
  EXPECT_THAT(Fires("0 0 */10 * MON", "UTC", "2026-01-01T00:00:00Z", 3),
              ElementsAre("2026-05-11T00:00:00Z", "2026-06-01T00:00:00Z", "2026-08-31T00:00:00Z"));
  // Day-of-week `*/1` also starts with `*`: day-of-month alone decides.
  EXPECT_THAT(Fires("0 0 13 * */1", "UTC", "2026-01-01T00:00:00Z", 2),
              ElementsAre("2026-01-13T00:00:00Z", "2026-02-13T00:00:00Z"));
}

TEST(ScheduleSyntaxTest, LeapDays) {
  EXPECT_THAT(Fires("0 0 29 2 *", "UTC", "2026-01-01T00:00:00Z", 3),
              ElementsAre("2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z", "2036-02-29T00:00:00Z"));
  // 2100 is not a leap year: the longest gap, eight years.
  EXPECT_THAT(Fires("0 0 29 2 *", "UTC", "2096-03-01T00:00:00Z", 1),
              ElementsAre("2104-02-29T00:00:00Z"));
  // 2000 is.
  EXPECT_THAT(Fires("0 0 29 2 *", "UTC", "1997-01-01T00:00:00Z", 2),
              ElementsAre("2000-02-29T00:00:00Z", "2004-02-29T00:00:00Z"));
  // A fifth Monday in February needs a leap year starting February on a Monday.
  EXPECT_THAT(Fires("0 0 * 2 1#5", "UTC", "2026-01-01T00:00:00Z", 1),
              ElementsAre("2044-02-29T00:00:00Z"));
}

TEST(ScheduleSyntaxTest, LastDayOfMonth) {
  EXPECT_THAT(Fires("0 0 L * *", "UTC", "2026-01-15T00:00:00Z", 4),
              ElementsAre("2026-01-31T00:00:00Z", "2026-02-28T00:00:00Z", "2026-03-31T00:00:00Z",
                          "2026-04-30T00:00:00Z"));
  EXPECT_THAT(Fires("0 0 L 2 *", "UTC", "2027-03-01T00:00:00Z", 2),
              ElementsAre("2028-02-29T00:00:00Z", "2029-02-28T00:00:00Z"));
  EXPECT_THAT(Fires("0 0 15,l * *", "UTC", "2026-02-01T00:00:00Z", 3),
              ElementsAre("2026-02-15T00:00:00Z", "2026-02-28T00:00:00Z", "2026-03-15T00:00:00Z"));
}

TEST(ScheduleSyntaxTest, MonthEnds) {
  // The 31st skips short months.
  EXPECT_THAT(Fires("0 0 31 * *", "UTC", "2026-01-31T00:00:00Z", 3),
              ElementsAre("2026-03-31T00:00:00Z", "2026-05-31T00:00:00Z", "2026-07-31T00:00:00Z"));
  EXPECT_THAT(Fires("0 0 30 * *", "UTC", "2026-01-30T00:00:00Z", 2),
              ElementsAre("2026-03-30T00:00:00Z", "2026-04-30T00:00:00Z"));
  // Rolling over the end of a year.
  EXPECT_THAT(Fires("59 23 31 12 *", "UTC", "2026-12-31T23:59:00Z", 1),
              ElementsAre("2027-12-31T23:59:00Z"));
}

TEST(ScheduleSyntaxTest, LastWeekdayOfMonth) {
  EXPECT_THAT(Fires("0 0 * * 5L", "UTC", "2026-01-01T00:00:00Z", 4),
              ElementsAre("2026-01-30T00:00:00Z", "2026-02-27T00:00:00Z", "2026-03-27T00:00:00Z",
                          "2026-04-24T00:00:00Z"));
  EXPECT_EQ(Fires("0 0 * * FRIL", "UTC", "2026-01-01T00:00:00Z", 4),
            Fires("0 0 * * 5L", "UTC", "2026-01-01T00:00:00Z", 4));
  // 7L is the last Sunday, like 0L.
  EXPECT_EQ(Fires("0 0 * * 7L", "UTC", "2026-01-01T00:00:00Z", 4),
            Fires("0 0 * * 0L", "UTC", "2026-01-01T00:00:00Z", 4));
}

TEST(ScheduleSyntaxTest, NthWeekdayOfMonth) {
  EXPECT_THAT(Fires("0 0 * * 1#1", "UTC", "2026-01-01T00:00:00Z", 3),
              ElementsAre("2026-01-05T00:00:00Z", "2026-02-02T00:00:00Z", "2026-03-02T00:00:00Z"));
  // Second Sunday, by name.
  EXPECT_THAT(Fires("0 0 * 3-4 SUN#2", "UTC", "2026-01-01T00:00:00Z", 2),
              ElementsAre("2026-03-08T00:00:00Z", "2026-04-12T00:00:00Z"));
  // A fifth Wednesday exists only in some months.
  EXPECT_THAT(Fires("0 0 * * 3#5", "UTC", "2026-01-01T00:00:00Z", 3),
              ElementsAre("2026-04-29T00:00:00Z", "2026-07-29T00:00:00Z", "2026-09-30T00:00:00Z"));
  // Lists of specials, and OR with a restricted day-of-month.
  EXPECT_THAT(Fires("0 0 * * 1#1,5L", "UTC", "2026-01-01T00:00:00Z", 4),
              ElementsAre("2026-01-05T00:00:00Z", "2026-01-30T00:00:00Z", "2026-02-02T00:00:00Z",
                          "2026-02-27T00:00:00Z"));
  EXPECT_THAT(Fires("0 0 20 * 1#1", "UTC", "2026-01-01T00:00:00Z", 3),
              ElementsAre("2026-01-05T00:00:00Z", "2026-01-20T00:00:00Z", "2026-02-02T00:00:00Z"));
}

TEST(ScheduleSyntaxTest, Macros) {
  const char* from = "2026-05-17T12:34:56Z";
  EXPECT_THAT(Fires("@yearly", "UTC", from, 1), ElementsAre("2027-01-01T00:00:00Z"));
  EXPECT_THAT(Fires("@annually", "UTC", from, 1), ElementsAre("2027-01-01T00:00:00Z"));
  EXPECT_THAT(Fires("@monthly", "UTC", from, 1), ElementsAre("2026-06-01T00:00:00Z"));
  EXPECT_THAT(Fires("@weekly", "UTC", from, 1), ElementsAre("2026-05-24T00:00:00Z"));
  EXPECT_THAT(Fires("@daily", "UTC", from, 1), ElementsAre("2026-05-18T00:00:00Z"));
  EXPECT_THAT(Fires("@midnight", "UTC", from, 1), ElementsAre("2026-05-18T00:00:00Z"));
  EXPECT_THAT(Fires("@hourly", "UTC", from, 1), ElementsAre("2026-05-17T13:00:00Z"));
  EXPECT_THAT(Fires("  @DAILY  ", "UTC", from, 1), ElementsAre("2026-05-18T00:00:00Z"));
}

TEST(ScheduleSyntaxTest, WhitespaceIsFlexible) {
  EXPECT_THAT(Fires("  0\t12  *  * *  ", "UTC", "2026-01-01T00:00:00Z", 1),
              ElementsAre("2026-01-01T12:00:00Z"));
}

TEST(ScheduleAccessorsTest, FixedTimeEveryTextZone) {
  const auto* utc = Zone("UTC");
  auto fixed = Schedule::Parse("0 2 * * *", utc);
  ASSERT_TRUE(fixed);
  EXPECT_TRUE(fixed->fixed_time());
  EXPECT_FALSE(fixed->is_every());
  EXPECT_EQ(fixed->text(), "0 2 * * *");
  EXPECT_EQ(fixed->zone(), utc);
  EXPECT_TRUE(Schedule::Parse("0 30 2 * * *", utc)->fixed_time());
  EXPECT_TRUE(Schedule::Parse("15,45 1-3 * * *", utc)->fixed_time());
  EXPECT_TRUE(Schedule::Parse("@daily", utc)->fixed_time());
  EXPECT_FALSE(Schedule::Parse("*/5 2 * * *", utc)->fixed_time());
  EXPECT_FALSE(Schedule::Parse("0 */2 * * *", utc)->fixed_time());
  EXPECT_FALSE(Schedule::Parse("@hourly", utc)->fixed_time());
  EXPECT_FALSE(Schedule::Parse("@every 1h", utc)->fixed_time());
  EXPECT_TRUE(Schedule::Parse("@every 1h", utc)->is_every());
}

TEST(ScheduleAccessorsTest, DefaultConstructedNeverFires) {
  const Schedule schedule;
  EXPECT_EQ(schedule.zone(), nullptr);
  EXPECT_FALSE(schedule.Next(At("2026-01-01T00:00:00Z")));
  EXPECT_EQ(schedule.text(), "");
}

TEST(ScheduleZoneTest, EvaluatedOnTheZonesWallClock) {
  EXPECT_THAT(Fires("0 9 * * *", "Asia/Kolkata", "2026-01-01T00:00:00Z", 2),
              ElementsAre("2026-01-01T09:00:00+05:30", "2026-01-02T09:00:00+05:30"));
}

TEST(ScheduleZoneTest, CronTzPrefixOverridesTheJobZone) {
  auto schedule = Schedule::Parse("CRON_TZ=America/New_York 0 9 * * *", Zone("UTC"));
  ASSERT_TRUE(schedule);
  EXPECT_EQ(schedule->zone(), Zone("America/New_York"));
  EXPECT_EQ(schedule->text(), "CRON_TZ=America/New_York 0 9 * * *");
  EXPECT_EQ(*schedule->Next(At("2026-01-05T00:00:00Z")), At("2026-01-05T14:00:00Z"));
  EXPECT_THAT(Fires("TZ=Europe/London  0 9 * * *", "Asia/Tokyo", "2026-07-01T00:00:00Z", 1),
              ElementsAre("2026-07-01T09:00:00+01:00"));
  EXPECT_THAT(Fires("CRON_TZ=UTC @daily", "Asia/Tokyo", "2026-07-01T12:00:00Z", 1),
              ElementsAre("2026-07-02T00:00:00Z"));
}

TEST(ScheduleEveryTest, AnchoredAtAnInstant) {
  auto parsed = Schedule::Parse("@every 1h30m", Zone("UTC"));
  ASSERT_TRUE(parsed);
  const Schedule every = parsed->AnchoredAt(At("2026-01-01T00:00:00Z"));
  // k >= 1: the anchor itself is not a fire.
  EXPECT_EQ(*every.Next(At("2026-01-01T00:00:00Z")), At("2026-01-01T01:30:00Z"));
  EXPECT_EQ(*every.Next(At("2025-12-31T00:00:00Z")), At("2026-01-01T01:30:00Z"));
  EXPECT_EQ(*every.Next(At("2026-01-01T01:29:59.999Z")), At("2026-01-01T01:30:00Z"));
  EXPECT_EQ(*every.Next(At("2026-01-01T01:30:00Z")), At("2026-01-01T03:00:00Z"));
  EXPECT_EQ(*every.Next(At("2026-01-03T00:00:00Z")), At("2026-01-03T01:30:00Z"));
  // The original stays anchored at the epoch.
  EXPECT_EQ(*parsed->Next(At("2026-01-01T00:10:00Z")), At("2026-01-01T01:30:00Z"));
}

TEST(ScheduleEveryTest, UnanchoredUsesTheUnixEpoch) {
  auto every = Schedule::Parse("@every 11m", Zone("UTC"));
  ASSERT_TRUE(every);
  // 2026-01-01T00:00:00Z is 29,453,760 minutes after the epoch, 6 past a multiple of 11.
  EXPECT_EQ(*every->Next(At("2026-01-01T00:00:00Z")), At("2026-01-01T00:05:00Z"));
}

TEST(ScheduleEveryTest, IsElapsedTimeAcrossDst) {
  auto parsed = Schedule::Parse("@every 1h", Zone("America/New_York"));
  ASSERT_TRUE(parsed);
  const Schedule every = parsed->AnchoredAt(At("2026-03-08T00:30:00-05:00"));
  EXPECT_EQ(*every.Next(At("2026-03-08T01:30:00-05:00")), At("2026-03-08T03:30:00-04:00"));
}

TEST(ScheduleEveryTest, PeriodsMayHaveMilliseconds) {
  auto parsed = Schedule::Parse("@every 1500ms", Zone("UTC"));
  ASSERT_TRUE(parsed);
  const Schedule every = parsed->AnchoredAt(At("2026-01-01T00:00:00Z"));
  EXPECT_EQ(*every.Next(At("2026-01-01T00:00:01.600Z")), At("2026-01-01T00:00:03.000Z"));
}

// One job must not flood its cluster: `@every 1ms` was accepted, a thousand runs a second.
TEST(ScheduleEveryTest, PeriodsShorterThanASecondAreRejected) {
  EXPECT_EQ(ParseError("@every 1ms"), "@every 1ms: the period must be at least 1s");
  EXPECT_EQ(ParseError("@every 999ms"), "@every 999ms: the period must be at least 1s");
  EXPECT_TRUE(Schedule::Parse("@every 1s", Zone("UTC")));
}

TEST(ScheduleErrorTest, FieldCount) {
  EXPECT_EQ(ParseError("* * * *"), "expected 5 or 6 fields, got 4");
  EXPECT_EQ(ParseError("* * * * * * *"), "expected 5 or 6 fields, got 7");
  EXPECT_THAT(ParseError(""), HasSubstr("empty schedule"));
  EXPECT_THAT(ParseError("   "), HasSubstr("empty schedule"));
}

TEST(ScheduleErrorTest, OutOfRange) {
  EXPECT_EQ(ParseError("61 * * * *"), "minute field: 61 is out of range 0-59");
  EXPECT_EQ(ParseError("60 * * * * *"), "second field: 60 is out of range 0-59");
  EXPECT_EQ(ParseError("0 24 * * *"), "hour field: 24 is out of range 0-23");
  EXPECT_EQ(ParseError("0 0 0 * *"), "day-of-month field: 0 is out of range 1-31");
  EXPECT_EQ(ParseError("0 0 32 * *"), "day-of-month field: 32 is out of range 1-31");
  EXPECT_EQ(ParseError("0 0 * 13 *"), "month field: 13 is out of range 1-12");
  EXPECT_EQ(ParseError("0 0 * 0 *"), "month field: 0 is out of range 1-12");
  EXPECT_EQ(ParseError("0 0 * * 8"), "day-of-week field: 8 is out of range 0-7");
  EXPECT_EQ(ParseError("0 1-99 * * *"), "hour field: 99 is out of range 0-23");
  EXPECT_EQ(ParseError("99999999999999999999 * * * *"),
            "minute field: 99999999999999999999 is out of range 0-59");
}

TEST(ScheduleErrorTest, NotANumberOrName) {
  EXPECT_EQ(ParseError("0 0 * * FOO"), "day-of-week field: \"FOO\" is not a number or name");
  EXPECT_EQ(ParseError("0 0 * JANUARY *"), "month field: \"JANUARY\" is not a number or name");
  EXPECT_EQ(ParseError("x * * * *"), "minute field: \"x\" is not a number");
  EXPECT_EQ(ParseError("0 0 * * MON-x"), "day-of-week field: \"x\" is not a number or name");
  EXPECT_EQ(ParseError("0 0 MON * *"), "day-of-month field: \"MON\" is not a number");
  EXPECT_EQ(ParseError("-5 * * * *"), "minute field: missing number in \"-5\"");
  EXPECT_EQ(ParseError("0 0 15W * *"), "day-of-month field: \"15W\" is not a number");
  EXPECT_EQ(ParseError("0 0 * * L"), "day-of-week field: \"L\" is not a number or name");
}

TEST(ScheduleErrorTest, MalformedElements) {
  EXPECT_EQ(ParseError("? * * * *"),
            "minute field: \"?\" is only allowed in day-of-month and day-of-week");
  EXPECT_EQ(ParseError("0 5-2 * * *"),
            "hour field: range \"5-2\" goes backwards (ranges do not wrap around)");
  EXPECT_EQ(ParseError("*/0 * * * *"),
            "minute field: step \"0\" in \"*/0\" is not a number in range 1-60");
  EXPECT_EQ(ParseError("*/x * * * *"),
            "minute field: step \"x\" in \"*/x\" is not a number in range 1-60");
  EXPECT_EQ(ParseError("*/ * * * *"),
            "minute field: step \"\" in \"*/\" is not a number in range 1-60");
  EXPECT_EQ(ParseError("1/2/3 * * * *"),
            "minute field: step \"2/3\" in \"1/2/3\" is not a number in range 1-60");
  EXPECT_EQ(ParseError("/5 * * * *"), "minute field: \"/5\" needs a start before /, e.g. */5");
  EXPECT_EQ(ParseError("1,,2 * * * *"), "minute field: empty list element in \"1,,2\"");
  EXPECT_EQ(ParseError("1, * * * *"), "minute field: empty list element in \"1,\"");
  EXPECT_EQ(ParseError("0 0 L/2 * *"), "day-of-month field: \"L/2\": L cannot take a step");
  EXPECT_EQ(ParseError("0 0 * * 1#6"),
            "day-of-week field: occurrence \"6\" in \"1#6\" is not a number in range 1-5");
  EXPECT_EQ(ParseError("0 0 * * 1#0"),
            "day-of-week field: occurrence \"0\" in \"1#0\" is not a number in range 1-5");
  EXPECT_EQ(ParseError("0 0 * * #1"),
            "day-of-week field: \"#1\" needs a weekday before #, e.g. 1#1");
  EXPECT_EQ(ParseError("0 0 * * 9L"), "day-of-week field: 9 is out of range 0-7");
  EXPECT_EQ(ParseError("0 0 * * 1#1/2"),
            "day-of-week field: occurrence \"1/2\" in \"1#1/2\" is not a number in range 1-5");
}

TEST(ScheduleErrorTest, ImpossibleSchedulesAreRejected) {
  EXPECT_EQ(ParseError("0 0 30 2 *"),
            "schedule never fires: day-of-month \"30\" does not occur in month \"2\"");
  EXPECT_EQ(ParseError("0 0 31 4,6 *"),
            "schedule never fires: day-of-month \"31\" does not occur in month \"4,6\"");
  EXPECT_EQ(ParseError("0 0 30-31 FEB ?"),
            "schedule never fires: day-of-month \"30-31\" does not occur in month \"FEB\"");
  EXPECT_EQ(ParseError("0 0 31 2 */2"),
            "schedule never fires: day-of-month \"31\" does not occur in month \"2\"");
  // Day-of-month `*/31` is the 1st, which is never a fifth Monday.
  EXPECT_EQ(ParseError("0 0 */31 * 1#5"),
            "schedule never fires: no day matches day-of-month \"*/31\", month \"*\" and "
            "day-of-week \"1#5\"");
  // Possible ones are accepted: Feb 29, L, and the Vixie OR with a weekday.
  for (const char* ok : {"0 0 29 2 *", "0 0 L 2 *", "0 0 30 2 MON", "0 0 31 2 5L", "0 0 30 2 1#5",
                         "0 0 * 2 1#5", "0 0 31 1-2 *"}) {
    EXPECT_EQ(ParseError(ok), "parsed OK") << ok;
  }
}

TEST(ScheduleErrorTest, Macros) {
  EXPECT_EQ(ParseError("@fortnightly"),
            "unknown macro \"@fortnightly\" (use @yearly, @annually, @monthly, @weekly, @daily, "
            "@midnight, @hourly or @every <duration>)");
  EXPECT_EQ(ParseError("@daily now"), "@daily takes no arguments, got \"now\"");
  EXPECT_EQ(ParseError("@every"), "@every needs a duration, e.g. @every 1h30m");
  EXPECT_EQ(ParseError("@every 1x"), "@every: \"1x\": unknown unit \"x\" (use ms, s, m, h or d)");
  EXPECT_EQ(ParseError("@every 1h 2h"), "@every takes one duration, got extra \"2h\"");
}

TEST(ScheduleErrorTest, Zones) {
  EXPECT_EQ(ParseError("CRON_TZ=Mars/Base 0 0 * * *"),
            "CRON_TZ: unknown time zone \"Mars/Base\" (use an IANA name such as Europe/Dublin "
            "or UTC)");
  EXPECT_EQ(ParseError("TZ= 0 0 * * *"), "TZ= needs a zone name, e.g. TZ=UTC");
  EXPECT_THAT(ParseError("CRON_TZ=UTC"), HasSubstr("empty schedule"));
  EXPECT_FALSE(Schedule::Parse("0 0 * * *", nullptr));
  EXPECT_TRUE(Schedule::Parse("CRON_TZ=UTC 0 0 * * *", nullptr));
}

TEST(ScheduleErrorTest, GarbageNeverCrashes) {
  for (const char* bad :
       {"*", "@", "@@", "CRON_TZ=", "TZ", "* * * * * * * * * * *", "\x01\x02 * * * *",
        "1-2-3 * * * *", "#  * * *", "0 0 * * 1#", "0 0 * * ##", "0 0 * * L#1", ",,,, * * * *",
        "1--2 * * * *", "-- * * * *", "0 0 LL * *", "0 0 * * 5LL", "0 0 * * --L"}) {
    EXPECT_NE(ParseError(bad), "parsed OK") << bad;
  }
}

}  // namespace
}  // namespace krond::cron
