#include "messages/commit_note.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace krond::messages {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

TEST(OffsetRangesTest, MergesAdjacentAndOverlappingOffsets) {
  OffsetRanges r;
  for (int64_t o : {7, 5, 9, 6, 12}) r.Add(o);
  EXPECT_THAT(r.ranges(), ElementsAre(Pair(5, 7), Pair(9, 9), Pair(12, 12)));
  r.Add(8);
  r.AddRange(10, 11);
  EXPECT_THAT(r.ranges(), ElementsAre(Pair(5, 12)));
  r.AddRange(20, 30);
  r.AddRange(1, 25);
  EXPECT_THAT(r.ranges(), ElementsAre(Pair(1, 30)));
  EXPECT_TRUE(r.Contains(1));
  EXPECT_TRUE(r.Contains(30));
  EXPECT_FALSE(r.Contains(0));
  EXPECT_FALSE(r.Contains(31));
  r.EraseBelow(10);
  EXPECT_THAT(r.ranges(), ElementsAre(Pair(10, 30)));
  r.EraseBelow(31);
  EXPECT_TRUE(r.empty());
}

TEST(CommitNoteTest, EncodesOffsetsRelativeToTheCommitAndDecodesThemBack) {
  CommitNote note;
  for (int64_t o : {100, 102, 103, 104, 107}) note.started.Add(o);
  note.done.Add(101);
  note.done.Add(99);  // below the commit: meaningless, left out
  const std::string text = EncodeCommitNote(note, 100, 4000);
  EXPECT_EQ(text, R"({"v":1,"started":[0,[2,4],7],"done":[1]})");
  auto back = DecodeCommitNote(text, 100);
  ASSERT_TRUE(back.has_value()) << back.error().message;
  EXPECT_THAT(back->started.ranges(), ElementsAre(Pair(100, 100), Pair(102, 104), Pair(107, 107)));
  EXPECT_THAT(back->done.ranges(), ElementsAre(Pair(101, 101)));
}

TEST(CommitNoteTest, EmptyNoteIsNoMetadata) {
  EXPECT_EQ(EncodeCommitNote({}, 5, 4000), "");
  CommitNote below;
  below.started.Add(3);
  EXPECT_EQ(EncodeCommitNote(below, 5, 4000), "");
  auto empty = DecodeCommitNote("", 5);
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->empty());
}

TEST(CommitNoteTest, TooManyOffsetsAreTruncatedFromTheTopAndFlagged) {
  CommitNote note;
  for (int64_t o = 0; o < 2000; o += 2) note.started.Add(o);  // 1,000 singletons
  note.done.Add(1);
  bool truncated = false;
  const std::string text = EncodeCommitNote(note, 0, 200, &truncated);
  EXPECT_TRUE(truncated);
  EXPECT_LE(text.size(), 200u);
  auto back = DecodeCommitNote(text, 0);
  ASSERT_TRUE(back.has_value()) << back.error().message << "\n" << text;
  EXPECT_TRUE(back->started.Contains(0));
  EXPECT_FALSE(back->started.Contains(1998)) << "the highest are left out";
  EXPECT_FALSE(back->done.Contains(1)) << "started offsets take the room first";

  EncodeCommitNote(note, 0, 100'000, &truncated);
  EXPECT_FALSE(truncated);
}

TEST(CommitNoteTest, ForeignOrBrokenMetadataIsAnError) {
  EXPECT_THAT(DecodeCommitNote("some tool's note", 0).error().message, HasSubstr("not krond's"));
  EXPECT_THAT(DecodeCommitNote(R"({"v":7})", 0).error().message, HasSubstr("unknown version 7"));
  EXPECT_THAT(DecodeCommitNote(R"({"v":1,"started":{}})", 0).error().message,
              HasSubstr("\"started\": expected an array"));
  for (const char* bad : {R"({"v":1,"done":[-1]})", R"({"v":1,"done":[[5,2]]})",
                          R"({"v":1,"done":["x"]})", R"({"v":1,"done":[[1,2,3]]})"}) {
    EXPECT_FALSE(DecodeCommitNote(bad, 0).has_value()) << bad;
  }
  // Relative offsets cannot overflow past the largest offset.
  EXPECT_FALSE(DecodeCommitNote(R"({"v":1,"done":[9223372036854775807]})", 10).has_value());
}

}  // namespace
}  // namespace krond::messages
