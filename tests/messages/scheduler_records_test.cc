#include "messages/scheduler_records.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/time_format.h"

namespace krond::messages {
namespace {

using ::testing::HasSubstr;

const SystemTime kT0 = *ParseRfc3339("2026-03-08T00:00:00Z");

TEST(FireStateTest, RoundTripsWithItsFence) {
  const std::string text = Encode(FireState{"backup", kT0 + std::chrono::milliseconds(5), 42});
  EXPECT_EQ(text, R"({"v":1,"job":"backup","last_fired":"2026-03-08T00:00:00.005Z","fence":42})");
  auto back = DecodeFireState(text);
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(back->job, "backup");
  EXPECT_EQ(back->last_fired, kT0 + std::chrono::milliseconds(5));
  EXPECT_EQ(back->fence, 42);
}

TEST(FireStateTest, ReadsRecordsOfOlderSchedulersWithoutAFence) {
  auto back = DecodeFireState(R"({"job":"a","last_fired":"2026-03-08T00:00:00.000Z","v":1})");
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_EQ(back->fence, 0);
}

TEST(FireStateTest, RejectsWhatIsNotAStateRecord) {
  EXPECT_FALSE(DecodeFireState("{}").has_value());
  EXPECT_FALSE(DecodeFireState("not json").has_value());
  EXPECT_FALSE(DecodeFireState(R"({"v":2,"job":"a","last_fired":"2026-03-08T00:00:00Z"})"));
  auto bad = DecodeFireState(R"({"v":1,"job":"a","last_fired":"yesterday"})");
  ASSERT_FALSE(bad.has_value());
  EXPECT_THAT(bad.error().message, HasSubstr("last_fired"));
  EXPECT_FALSE(
      DecodeFireState(R"({"v":1,"job":"a","last_fired":"2026-03-08T00:00:00Z","fence":-1})"));
}

TEST(LeaseRecordTest, RoundTripsActiveAndResigned) {
  for (bool resigned : {false, true}) {
    auto back = DecodeLeaseRecord(Encode(LeaseRecord{"host:12:ab", resigned, kT0}));
    ASSERT_TRUE(back.has_value()) << back.error().message;
    EXPECT_EQ(back->owner, "host:12:ab");
    EXPECT_EQ(back->resigned, resigned);
    EXPECT_EQ(back->at, kT0);
  }
  EXPECT_FALSE(
      DecodeLeaseRecord(R"({"v":1,"owner":"x","state":"sleeping","at":"2026-03-08T00:00:00Z"})"));
}

TEST(SkipRecordTest, RoundTripsEveryReason) {
  for (SkipReason reason :
       {SkipReason::kCatchUp, SkipReason::kStartingDeadline, SkipReason::kCatchUpLimit,
        SkipReason::kRejected, SkipReason::kPaused}) {
    SkipRecord skip{"report",
                    reason,
                    kT0,
                    kT0 + std::chrono::seconds(9),
                    10,
                    kT0 + std::chrono::seconds(12),
                    "too_large: 2 MB"};
    auto back = DecodeSkipRecord(Encode(skip));
    ASSERT_TRUE(back.has_value()) << back.error().message;
    EXPECT_EQ(back->job, "report");
    EXPECT_EQ(back->reason, reason);
    EXPECT_EQ(ParseSkipReason(SkipReasonName(reason)), reason);
    EXPECT_EQ(back->first, skip.first);
    EXPECT_EQ(back->last, skip.last);
    EXPECT_EQ(back->count, 10);
    EXPECT_EQ(back->decided_at, skip.decided_at);
    EXPECT_EQ(back->detail, "too_large: 2 MB");
  }
}

TEST(SkipRecordTest, RejectsAnInvertedRangeAndUnknownReasons) {
  SkipRecord skip{"j", SkipReason::kCatchUp, kT0 + std::chrono::seconds(1), kT0, 1, kT0, ""};
  EXPECT_FALSE(DecodeSkipRecord(Encode(skip)).has_value());
  auto unknown = DecodeSkipRecord(
      R"({"v":1,"job":"j","reason":"bored","first":"2026-03-08T00:00:00Z","last":"2026-03-08T00:00:00Z","count":1,"decided_at":"2026-03-08T00:00:00Z"})");
  ASSERT_FALSE(unknown.has_value());
  EXPECT_THAT(unknown.error().message, HasSubstr("bored"));
}

}  // namespace
}  // namespace krond::messages
