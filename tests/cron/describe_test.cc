#include "cron/describe.h"

#include <date/tz.h>
#include <gtest/gtest.h>

#include <string>

#include "common/time_format.h"

namespace krond::cron {
namespace {

std::string D(const char* expr, const char* zone = "UTC") {
  auto schedule = Schedule::Parse(expr, *LocateZone(zone));
  if (!schedule) return "parse error: " + schedule.error().message;
  return Describe(*schedule);
}

TEST(DescribeTest, TheIssueExample) {
  EXPECT_EQ(D("30 2 * * 1-5", "America/New_York"), "at 02:30, Monday to Friday, America/New_York");
}

TEST(DescribeTest, Daily) {
  EXPECT_EQ(D("0 0 * * *"), "at 00:00, every day, UTC");
  EXPECT_EQ(D("@daily"), D("0 0 * * *"));
  EXPECT_EQ(D("0 9,17 * * *", "Europe/Dublin"), "at 09:00 and 17:00, every day, Europe/Dublin");
  EXPECT_EQ(D("15 30 6 * * *"), "at 06:30:15, every day, UTC");
}

TEST(DescribeTest, Frequencies) {
  EXPECT_EQ(D("* * * * * *"), "every second, UTC");
  EXPECT_EQ(D("*/10 * * * * *"), "every 10 seconds, UTC");
  EXPECT_EQ(D("* * * * *"), "every minute, UTC");
  EXPECT_EQ(D("*/15 * * * *"), "every 15 minutes, UTC");
  EXPECT_EQ(D("*/5 9-17 * * 1-5"), "every 5 minutes, during hours 9 to 17, Monday to Friday, UTC");
  EXPECT_EQ(D("@hourly"), "every hour at minute 0, UTC");
  EXPECT_EQ(D("7 */3 * * *"), "every 3 hours at minute 7, UTC");
  // Up to four instants a day are listed.
  EXPECT_EQ(D("7 */6 * * *"), "at 00:07, 06:07, 12:07 and 18:07, every day, UTC");
  EXPECT_EQ(D("@every 1h30m"), "every 1h30m");
}

TEST(DescribeTest, DaysOfTheMonthAndWeek) {
  EXPECT_EQ(D("0 0 L * *"), "at 00:00, on the last day of the month, UTC");
  EXPECT_EQ(D("0 3 1,15 * *"), "at 03:00, on days 1 and 15 of the month, UTC");
  EXPECT_EQ(D("0 3 * * 5L"), "at 03:00, on the last Friday of the month, UTC");
  EXPECT_EQ(D("0 3 * * 1#2"), "at 03:00, on the second Monday of the month, UTC");
  EXPECT_EQ(D("0 3 * * SAT,SUN"), "at 03:00, Sunday and Saturday, UTC");
  EXPECT_EQ(D("0 3 * * 1,3,5"), "at 03:00, Monday, Wednesday and Friday, UTC");
  // Both restricted: cron's OR rule.
  EXPECT_EQ(D("0 3 1 * MON"), "at 03:00, on day 1 of the month or Monday, UTC");
}

TEST(DescribeTest, Months) {
  EXPECT_EQ(D("@yearly"), "at 00:00, on day 1 of the month, in January, UTC");
  EXPECT_EQ(D("0 0 1 1-3 *"), "at 00:00, on day 1 of the month, in January to March, UTC");
}

TEST(DescribeTest, IrregularSetsAreListed) {
  EXPECT_EQ(D("5,35 1,4,9,12,20 * * *"), "at minutes 5 and 35 past hours 1, 4, 9, 12 and 20, UTC");
  EXPECT_EQ(D("0 8-12 * * *"), "at minute 0 past hours 8 to 12, UTC");
}

}  // namespace
}  // namespace krond::cron
