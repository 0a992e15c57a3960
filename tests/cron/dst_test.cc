// The DST rule of docs/cron.md, checked against the 2026 transitions of real zones
// (`zdump -v ZONE | grep 2026`):
//   America/New_York  2026-03-08 02:00 EST -> 03:00 EDT, 2026-11-01 02:00 EDT -> 01:00 EST
//   Europe/London     2026-03-29 01:00 GMT -> 02:00 BST, 2026-10-25 02:00 BST -> 01:00 GMT
//   Australia/Lord_Howe (30-minute shifts)
//                     2026-04-05 02:00 +11 -> 01:30 +1030, 2026-10-04 02:00 +1030 -> 02:30 +11
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cron/fire_times.h"

namespace krond::cron {
namespace {

using ::testing::ElementsAre;
using testing::Fires;

constexpr const char* kNewYork = "America/New_York";
constexpr const char* kLondon = "Europe/London";
constexpr const char* kLordHowe = "Australia/Lord_Howe";

TEST(DstSpringForwardTest, FixedTimeInTheGapFiresAtTheEndOfTheGap) {
  EXPECT_THAT(Fires("0 2 * * *", kNewYork, "2026-03-08T00:00:00-05:00", 2),
              ElementsAre("2026-03-08T03:00:00-04:00", "2026-03-09T02:00:00-04:00"));
  EXPECT_THAT(Fires("30 2 * * *", kNewYork, "2026-03-08T00:00:00-05:00", 2),
              ElementsAre("2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"));
  EXPECT_THAT(Fires("0 30 2 * * *", kNewYork, "2026-03-08T00:00:00-05:00", 1),
              ElementsAre("2026-03-08T03:00:00-04:00"));
  // Already past the gap: no late fire.
  EXPECT_THAT(Fires("30 2 * * *", kNewYork, "2026-03-08T03:00:00-04:00", 1),
              ElementsAre("2026-03-09T02:30:00-04:00"));
}

TEST(DstSpringForwardTest, RunsLandingOnTheSameInstantFireOnce) {
  EXPECT_THAT(Fires("0 2,3 * * *", kNewYork, "2026-03-08T00:00:00-05:00", 3),
              ElementsAre("2026-03-08T03:00:00-04:00", "2026-03-09T02:00:00-04:00",
                          "2026-03-09T03:00:00-04:00"));
  EXPECT_THAT(Fires("0,30 2 * * *", kNewYork, "2026-03-08T00:00:00-05:00", 2),
              ElementsAre("2026-03-08T03:00:00-04:00", "2026-03-09T02:00:00-04:00"));
}

TEST(DstSpringForwardTest, FixedTimeOutsideTheGapIsUnaffected) {
  EXPECT_THAT(Fires("0 3 * * *", kNewYork, "2026-03-08T00:00:00-05:00", 2),
              ElementsAre("2026-03-08T03:00:00-04:00", "2026-03-09T03:00:00-04:00"));
  EXPECT_THAT(Fires("59 1 * * *", kNewYork, "2026-03-08T00:00:00-05:00", 2),
              ElementsAre("2026-03-08T01:59:00-05:00", "2026-03-09T01:59:00-04:00"));
}

TEST(DstSpringForwardTest, WildcardRunsInTheGapDoNotExist) {
  EXPECT_THAT(Fires("*/30 * * * *", kNewYork, "2026-03-08T01:00:00-05:00", 3),
              ElementsAre("2026-03-08T01:30:00-05:00", "2026-03-08T03:00:00-04:00",
                          "2026-03-08T03:30:00-04:00"));
  EXPECT_THAT(Fires("15 * * * *", kNewYork, "2026-03-08T01:00:00-05:00", 2),
              ElementsAre("2026-03-08T01:15:00-05:00", "2026-03-08T03:15:00-04:00"));
  // Hour fixed but minute wildcard: still a wildcard schedule.
  EXPECT_THAT(Fires("*/15 2 * * *", kNewYork, "2026-03-08T00:00:00-05:00", 1),
              ElementsAre("2026-03-09T02:00:00-04:00"));
  EXPECT_THAT(Fires("0 */2 * * *", kNewYork, "2026-03-08T00:00:00-05:00", 2),
              ElementsAre("2026-03-08T04:00:00-04:00", "2026-03-08T06:00:00-04:00"));
}

TEST(DstFallBackTest, FixedTimeFiresOnceAtTheFirstOccurrence) {
  EXPECT_THAT(Fires("30 1 * * *", kNewYork, "2026-11-01T00:00:00-04:00", 2),
              ElementsAre("2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"));
  EXPECT_THAT(Fires("0 1 * * *", kNewYork, "2026-11-01T00:00:00-04:00", 2),
              ElementsAre("2026-11-01T01:00:00-04:00", "2026-11-02T01:00:00-05:00"));
  // Starting between the two occurrences, or inside the second one: the run already happened.
  EXPECT_THAT(Fires("30 1 * * *", kNewYork, "2026-11-01T01:45:00-04:00", 1),
              ElementsAre("2026-11-02T01:30:00-05:00"));
  EXPECT_THAT(Fires("30 1 * * *", kNewYork, "2026-11-01T01:10:00-05:00", 1),
              ElementsAre("2026-11-02T01:30:00-05:00"));
  // After the overlap, wall times exist once again.
  EXPECT_THAT(Fires("0 2 * * *", kNewYork, "2026-11-01T00:00:00-04:00", 1),
              ElementsAre("2026-11-01T02:00:00-05:00"));
}

TEST(DstFallBackTest, WildcardRunsFireAtEachOccurrence) {
  EXPECT_THAT(Fires("30 * * * *", kNewYork, "2026-11-01T00:00:00-04:00", 4),
              ElementsAre("2026-11-01T00:30:00-04:00", "2026-11-01T01:30:00-04:00",
                          "2026-11-01T01:30:00-05:00", "2026-11-01T02:30:00-05:00"));
  EXPECT_THAT(Fires("*/20 1 * * *", kNewYork, "2026-11-01T00:00:00-04:00", 7),
              ElementsAre("2026-11-01T01:00:00-04:00", "2026-11-01T01:20:00-04:00",
                          "2026-11-01T01:40:00-04:00", "2026-11-01T01:00:00-05:00",
                          "2026-11-01T01:20:00-05:00", "2026-11-01T01:40:00-05:00",
                          "2026-11-02T01:00:00-05:00"));
}

TEST(DstLondonTest, SpringAndFall) {
  EXPECT_THAT(Fires("30 1 * * *", kLondon, "2026-03-29T00:00:00Z", 2),
              ElementsAre("2026-03-29T02:00:00+01:00", "2026-03-30T01:30:00+01:00"));
  EXPECT_THAT(Fires("*/30 * * * *", kLondon, "2026-03-29T00:15:00Z", 3),
              ElementsAre("2026-03-29T00:30:00+00:00", "2026-03-29T02:00:00+01:00",
                          "2026-03-29T02:30:00+01:00"));
  EXPECT_THAT(Fires("30 1 * * *", kLondon, "2026-10-25T00:00:00+01:00", 2),
              ElementsAre("2026-10-25T01:30:00+01:00", "2026-10-26T01:30:00+00:00"));
  EXPECT_THAT(Fires("30 * * * *", kLondon, "2026-10-25T00:00:00+01:00", 4),
              ElementsAre("2026-10-25T00:30:00+01:00", "2026-10-25T01:30:00+01:00",
                          "2026-10-25T01:30:00+00:00", "2026-10-25T02:30:00+00:00"));
}

TEST(DstLordHoweTest, HalfHourFallBack) {
  // 01:30-01:59 happen twice: first at +11, then at +10:30.
  EXPECT_THAT(Fires("45 1 * * *", kLordHowe, "2026-04-05T00:00:00+11:00", 2),
              ElementsAre("2026-04-05T01:45:00+11:00", "2026-04-06T01:45:00+10:30"));
  EXPECT_THAT(Fires("*/15 1 * * *", kLordHowe, "2026-04-05T01:00:00+11:00", 6),
              ElementsAre("2026-04-05T01:15:00+11:00", "2026-04-05T01:30:00+11:00",
                          "2026-04-05T01:45:00+11:00", "2026-04-05T01:30:00+10:30",
                          "2026-04-05T01:45:00+10:30", "2026-04-06T01:00:00+10:30"));
  // 01:15 exists once (before the overlap); 02:00 once (after it).
  EXPECT_THAT(Fires("15 1 * * *", kLordHowe, "2026-04-05T00:00:00+11:00", 1),
              ElementsAre("2026-04-05T01:15:00+11:00"));
  EXPECT_THAT(Fires("0 2 * * *", kLordHowe, "2026-04-05T00:00:00+11:00", 1),
              ElementsAre("2026-04-05T02:00:00+10:30"));
}

TEST(DstLordHoweTest, HalfHourSpringForward) {
  // 02:00-02:29 do not exist; the first instant after the gap is 02:30 +11.
  EXPECT_THAT(Fires("15 2 * * *", kLordHowe, "2026-10-04T00:00:00+10:30", 2),
              ElementsAre("2026-10-04T02:30:00+11:00", "2026-10-05T02:15:00+11:00"));
  EXPECT_THAT(Fires("45 2 * * *", kLordHowe, "2026-10-04T00:00:00+10:30", 1),
              ElementsAre("2026-10-04T02:45:00+11:00"));
  EXPECT_THAT(Fires("0,15,30,45 2 * * *", kLordHowe, "2026-10-04T00:00:00+10:30", 3),
              ElementsAre("2026-10-04T02:30:00+11:00", "2026-10-04T02:45:00+11:00",
                          "2026-10-05T02:00:00+11:00"));
  EXPECT_THAT(Fires("*/15 * * * *", kLordHowe, "2026-10-04T01:40:00+10:30", 3),
              ElementsAre("2026-10-04T01:45:00+10:30", "2026-10-04T02:30:00+11:00",
                          "2026-10-04T02:45:00+11:00"));
}

TEST(DstRuleTest, NextIsStrictlyIncreasingAcrossAYearOfTransitions) {
  for (const char* zone : {kNewYork, kLondon, kLordHowe}) {
    for (const char* expr : {"*/7 * * * *", "30 1 * * *", "0 2 * * *", "15 2 * * *",
                             "*/10 1-2 * * *", "0 */1 * * *"}) {
      const auto fires = Fires(expr, zone, "2026-01-01T00:00:00Z", 2000);
      EXPECT_EQ(fires.size(), 2000u) << zone << " " << expr;
    }
  }
}

}  // namespace
}  // namespace krond::cron
