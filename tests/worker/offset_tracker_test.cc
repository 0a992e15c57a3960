#include "worker/offset_tracker.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace krond::worker {
namespace {

using kafka::TopicPartition;
using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

TEST(OffsetTrackerTest, InOrderFinishesCommitOnePastTheLast) {
  OffsetTracker t;
  t.Started("t", 0, 10);
  t.Started("t", 0, 11);
  EXPECT_EQ(t.InFlight(), 2u);
  t.Finished("t", 0, 10);
  EXPECT_THAT(t.TakeCommittable().offsets, ElementsAre(TopicPartition{"t", 0, 11}));
  t.Finished("t", 0, 11);
  EXPECT_THAT(t.TakeCommittable().offsets, ElementsAre(TopicPartition{"t", 0, 12}));
  EXPECT_EQ(t.InFlight(), 0u);
}

TEST(OffsetTrackerTest, OutOfOrderFinishNeverCommitsPastAnUnfinishedOffset) {
  OffsetTracker t;
  for (int64_t off : {5, 6, 7, 8}) t.Started("t", 0, off);
  // 6, 7 and 8 finish while 5 is still running: nothing past 5 may be committed.
  t.Finished("t", 0, 8);
  t.Finished("t", 0, 6);
  t.Finished("t", 0, 7);
  for (const TopicPartition& tp : t.TakeCommittable().offsets) EXPECT_LE(tp.offset, 5);
  EXPECT_THAT(t.TakeCommittable().offsets, IsEmpty());
  // Then 5 finishes: everything up to 8 is done.
  t.Finished("t", 0, 5);
  EXPECT_THAT(t.TakeCommittable().offsets, ElementsAre(TopicPartition{"t", 0, 9}));
}

TEST(OffsetTrackerTest, CommitStopsAtTheLowestUnfinished) {
  OffsetTracker t;
  for (int64_t off : {0, 1, 2, 3}) t.Started("t", 0, off);
  t.Finished("t", 0, 0);
  t.Finished("t", 0, 2);
  t.Finished("t", 0, 3);
  // 2 and 3 are done past the commit: the metadata says so (relative to offset 1).
  EXPECT_THAT(t.TakeCommittable().offsets,
              ElementsAre(TopicPartition{"t", 0, 1, R"({"v":1,"done":[[1,2]]})"}));
  t.Finished("t", 0, 1);
  EXPECT_THAT(t.TakeCommittable().offsets, ElementsAre(TopicPartition{"t", 0, 4}));
}

TEST(OffsetTrackerTest, TakeCommittableReturnsOnlyAdvances) {
  OffsetTracker t;
  t.Started("t", 0, 0);
  t.Started("t", 1, 0);
  t.Finished("t", 0, 0);
  auto first = t.TakeCommittable().offsets;
  EXPECT_THAT(first, ::testing::Contains(TopicPartition{"t", 0, 1}));
  // Nothing changed: nothing to commit again.
  EXPECT_THAT(t.TakeCommittable().offsets, IsEmpty());
  // Partition 1 advances; partition 0 is not repeated.
  t.Finished("t", 1, 0);
  EXPECT_THAT(t.TakeCommittable().offsets, ElementsAre(TopicPartition{"t", 1, 1}));
  // A new message starting at the committed position is no advance.
  t.Started("t", 0, 1);
  EXPECT_THAT(t.TakeCommittable().offsets, IsEmpty());
}

TEST(OffsetTrackerTest, PartitionsAndTopicsAreIndependent) {
  OffsetTracker t;
  t.Started("a", 0, 3);
  t.Started("a", 1, 7);
  t.Started("b", 0, 100);
  t.Finished("a", 1, 7);
  t.Finished("b", 0, 100);
  EXPECT_THAT(t.TakeCommittable().offsets,
              UnorderedElementsAre(TopicPartition{"a", 0, 3}, TopicPartition{"a", 1, 8},
                                   TopicPartition{"b", 0, 101}));
  EXPECT_EQ(t.InFlight(), 1u);
}

TEST(OffsetTrackerTest, FinishingTwiceOrUnknownOffsetsChangesNothing) {
  OffsetTracker t;
  t.Started("t", 0, 4);
  t.Finished("t", 0, 4);
  EXPECT_THAT(t.TakeCommittable().offsets, ElementsAre(TopicPartition{"t", 0, 5}));
  t.Finished("t", 0, 4);
  t.Finished("t", 0, 9);  // never started
  t.Finished("x", 3, 1);  // unknown partition
  EXPECT_THAT(t.TakeCommittable().offsets, IsEmpty());
  EXPECT_EQ(t.InFlight(), 0u);
}

TEST(OffsetTrackerTest, ForgetDropsRevokedPartitions) {
  OffsetTracker t;
  t.Started("t", 0, 0);
  t.Started("t", 0, 1);
  t.Started("t", 1, 0);
  t.Forget({{"t", 0, -1}});
  EXPECT_EQ(t.InFlight(), 1u);
  // A run of the forgotten partition finishing later commits nothing for it.
  t.Finished("t", 0, 0);
  t.Finished("t", 0, 1);
  EXPECT_THAT(t.TakeCommittable().offsets, ElementsAre(TopicPartition{"t", 1, 0}));
  // Reassigned later, it starts afresh.
  t.Started("t", 0, 1);
  t.Finished("t", 0, 1);
  EXPECT_THAT(t.TakeCommittable().offsets, ElementsAre(TopicPartition{"t", 0, 2}));
}

// ---- Commit metadata: what the next owner learns ------------------------------------

TEST(OffsetTrackerTest, StartedAndFinishedRunsPastTheCommitGoInItsMetadata) {
  OffsetTracker t;
  for (int64_t off : {10, 11, 12, 13}) t.Started("t", 0, off);
  // 12 is held for a slot: taken, not started.
  for (int64_t off : {10, 11, 13}) t.Launched("t", 0, off);
  t.Finished("t", 0, 11);
  EXPECT_THAT(t.TakeCommittable().offsets,
              ElementsAre(TopicPartition{"t", 0, 10, R"({"v":1,"started":[0,3],"done":[1]})"}));
  // A run starting is news for the next owner even though the offset does not move.
  t.Launched("t", 0, 12);
  EXPECT_THAT(t.TakeCommittable().offsets,
              ElementsAre(TopicPartition{"t", 0, 10, R"({"v":1,"started":[0,[2,3]],"done":[1]})"}));
  EXPECT_THAT(t.TakeCommittable().offsets, IsEmpty());
  for (int64_t off : {10, 12, 13}) t.Finished("t", 0, off);
  EXPECT_THAT(t.TakeCommittable().offsets, ElementsAre(TopicPartition{"t", 0, 14}));
}

TEST(OffsetTrackerTest, InheritedNoteTellsStartedAndFinishedRunsAndIsPassedOn) {
  OffsetTracker t;
  ASSERT_TRUE(t.Inherit({"t", 0, 10, R"({"v":1,"started":[0,2],"done":[1]})"}).has_value());
  EXPECT_TRUE(t.StartedBefore("t", 0, 10));
  EXPECT_TRUE(t.StartedBefore("t", 0, 12));
  EXPECT_FALSE(t.StartedBefore("t", 0, 11));
  EXPECT_TRUE(t.FinishedBefore("t", 0, 11));
  EXPECT_FALSE(t.FinishedBefore("t", 0, 10));
  EXPECT_FALSE(t.StartedBefore("t", 1, 10)) << "another partition";
  // Nothing taken yet: nothing to commit (the broker already has this).
  EXPECT_THAT(t.TakeCommittable().offsets, IsEmpty());

  // 10 is taken but waits for a slot, 11 is passed over as done: if this worker dies now,
  // the next owner must still know that 10 and 12 had started.
  t.Started("t", 0, 10);
  t.Started("t", 0, 11);
  t.Finished("t", 0, 11);
  EXPECT_THAT(t.TakeCommittable().offsets, IsEmpty()) << "same offset, same news";
  t.Finished("t", 0, 10);
  EXPECT_THAT(t.TakeCommittable().offsets,
              ElementsAre(TopicPartition{"t", 0, 12, R"({"v":1,"started":[0]})"}));
  t.Started("t", 0, 12);
  t.Finished("t", 0, 12);
  EXPECT_THAT(t.TakeCommittable().offsets, ElementsAre(TopicPartition{"t", 0, 13}));
  EXPECT_FALSE(t.StartedBefore("t", 0, 12)) << "committed past: forgotten";
}

TEST(OffsetTrackerTest, ForeignMetadataIsReportedAndIgnored) {
  OffsetTracker t;
  auto inherited = t.Inherit({"t", 0, 3, "checkpoint from another tool"});
  ASSERT_FALSE(inherited.has_value());
  EXPECT_THAT(inherited.error().message, ::testing::HasSubstr("not krond's"));
  EXPECT_FALSE(t.StartedBefore("t", 0, 3));
  t.Started("t", 0, 3);
  t.Finished("t", 0, 3);
  // The first commit replaces the foreign metadata.
  EXPECT_THAT(t.TakeCommittable().offsets, ElementsAre(TopicPartition{"t", 0, 4}));
}

TEST(OffsetTrackerTest, ANoteTooLargeForTheBrokerIsCutAndCounted) {
  OffsetTracker t;
  // 2,000 runs started with gaps between them (each of their neighbours finished).
  for (int64_t off = 0; off < 4000; ++off) t.Started("t", 0, off);
  for (int64_t off = 0; off < 4000; ++off) {
    if (off % 2 == 0) {
      t.Launched("t", 0, off);
    } else {
      t.Finished("t", 0, off);
    }
  }
  OffsetTracker::Commits commits = t.TakeCommittable();
  EXPECT_EQ(commits.truncated, 1u);
  ASSERT_THAT(commits.offsets, ::testing::SizeIs(1));
  EXPECT_EQ(commits.offsets[0].offset, 0);
  EXPECT_LE(commits.offsets[0].metadata.size(), kafka::kMaxCommitMetadataBytes);
}

TEST(OffsetTrackerTest, ALostPartitionAssignedBackKeepsWhatThisWorkerFinished) {
  OffsetTracker t;
  for (int64_t off : {10, 11, 12, 13}) t.Started("t", 0, off);
  t.Finished("t", 0, 10);
  t.Finished("t", 0, 11);
  t.Launched("t", 0, 13);
  // The session expired (the broker was down): no commit of 10 and 11 reached Kafka.
  t.Forget({{"t", 0, -1}}, /*lost=*/true);
  EXPECT_THAT(t.TakeCommittable().offsets, IsEmpty()) << "not ours while lost";
  ASSERT_TRUE(t.Inherit({"t", 0, 10, ""}).has_value());
  EXPECT_TRUE(t.FinishedBefore("t", 0, 10));
  EXPECT_TRUE(t.FinishedBefore("t", 0, 11));
  EXPECT_FALSE(t.FinishedBefore("t", 0, 12)) << "held, never run: taken again";
  EXPECT_FALSE(t.FinishedBefore("t", 0, 13)) << "cancelled: run again";
  EXPECT_FALSE(t.InProgress("t", 0, 12));
  EXPECT_EQ(t.InFlight(), 0u);
}

// it_broker_restart ran two runs twice: the first commit after the partition came back
// moved past them (and dropped them from the note) before the consumer, positioned at the
// group's older commit, delivered them again.
TEST(OffsetTrackerTest, RunsFinishedWhileLostStayFinishedOnceCommittedPast) {
  OffsetTracker t;
  t.Started("t", 0, 23);
  t.Started("t", 0, 24);
  t.Finished("t", 0, 23);
  t.Finished("t", 0, 24);
  t.Forget({{"t", 0, -1}}, /*lost=*/true);
  ASSERT_TRUE(t.Inherit({"t", 0, 23, ""}).has_value());
  EXPECT_THAT(t.TakeCommittable().offsets, ElementsAre(TopicPartition{"t", 0, 25}));
  EXPECT_TRUE(t.FinishedBefore("t", 0, 23));
  EXPECT_TRUE(t.FinishedBefore("t", 0, 24));
  EXPECT_FALSE(t.FinishedBefore("t", 0, 25));
}

TEST(OffsetTrackerTest, ARunStillPublishingWhenItsPartitionIsLostFinishesAfterwards) {
  OffsetTracker t;
  t.Started("t", 0, 5);
  t.Started("t", 0, 6);
  t.Publishing("t", 0, 5);
  t.Publishing("t", 0, 6);
  t.Forget({{"t", 0, -1}}, /*lost=*/true);
  t.Finished("t", 0, 5);  // acknowledged after the loss
  ASSERT_TRUE(t.Inherit({"t", 0, 5, ""}).has_value());
  EXPECT_TRUE(t.FinishedBefore("t", 0, 5));
  EXPECT_TRUE(t.InProgress("t", 0, 6)) << "its redelivery is not a new run";
  t.Finished("t", 0, 6);
  EXPECT_THAT(t.TakeCommittable().offsets, ElementsAre(TopicPartition{"t", 0, 7}));
}

TEST(OffsetTrackerTest, ARevokedPartitionIsForgottenWhole) {
  OffsetTracker t;
  t.Started("t", 0, 1);
  t.Finished("t", 0, 1);
  t.Forget({{"t", 0, -1}});
  ASSERT_TRUE(t.Inherit({"t", 0, 1, ""}).has_value());
  EXPECT_FALSE(t.FinishedBefore("t", 0, 1)) << "a revoke commits first; nothing to remember";
}

}  // namespace
}  // namespace krond::worker
