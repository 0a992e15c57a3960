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
  EXPECT_THAT(t.TakeCommittable(), ElementsAre(TopicPartition{"t", 0, 11}));
  t.Finished("t", 0, 11);
  EXPECT_THAT(t.TakeCommittable(), ElementsAre(TopicPartition{"t", 0, 12}));
  EXPECT_EQ(t.InFlight(), 0u);
}

TEST(OffsetTrackerTest, OutOfOrderFinishNeverCommitsPastAnUnfinishedOffset) {
  OffsetTracker t;
  for (int64_t off : {5, 6, 7, 8}) t.Started("t", 0, off);
  // 6, 7 and 8 finish while 5 is still running: nothing past 5 may be committed.
  t.Finished("t", 0, 8);
  t.Finished("t", 0, 6);
  t.Finished("t", 0, 7);
  for (const TopicPartition& tp : t.TakeCommittable()) EXPECT_LE(tp.offset, 5);
  EXPECT_THAT(t.TakeCommittable(), IsEmpty());
  // Then 5 finishes: everything up to 8 is done.
  t.Finished("t", 0, 5);
  EXPECT_THAT(t.TakeCommittable(), ElementsAre(TopicPartition{"t", 0, 9}));
}

TEST(OffsetTrackerTest, CommitStopsAtTheLowestUnfinished) {
  OffsetTracker t;
  for (int64_t off : {0, 1, 2, 3}) t.Started("t", 0, off);
  t.Finished("t", 0, 0);
  t.Finished("t", 0, 2);
  t.Finished("t", 0, 3);
  EXPECT_THAT(t.TakeCommittable(), ElementsAre(TopicPartition{"t", 0, 1}));
  t.Finished("t", 0, 1);
  EXPECT_THAT(t.TakeCommittable(), ElementsAre(TopicPartition{"t", 0, 4}));
}

TEST(OffsetTrackerTest, TakeCommittableReturnsOnlyAdvances) {
  OffsetTracker t;
  t.Started("t", 0, 0);
  t.Started("t", 1, 0);
  t.Finished("t", 0, 0);
  auto first = t.TakeCommittable();
  EXPECT_THAT(first, ::testing::Contains(TopicPartition{"t", 0, 1}));
  // Nothing changed: nothing to commit again.
  EXPECT_THAT(t.TakeCommittable(), IsEmpty());
  // Partition 1 advances; partition 0 is not repeated.
  t.Finished("t", 1, 0);
  EXPECT_THAT(t.TakeCommittable(), ElementsAre(TopicPartition{"t", 1, 1}));
  // A new message starting at the committed position is no advance.
  t.Started("t", 0, 1);
  EXPECT_THAT(t.TakeCommittable(), IsEmpty());
}

TEST(OffsetTrackerTest, PartitionsAndTopicsAreIndependent) {
  OffsetTracker t;
  t.Started("a", 0, 3);
  t.Started("a", 1, 7);
  t.Started("b", 0, 100);
  t.Finished("a", 1, 7);
  t.Finished("b", 0, 100);
  EXPECT_THAT(t.TakeCommittable(),
              UnorderedElementsAre(TopicPartition{"a", 0, 3}, TopicPartition{"a", 1, 8},
                                   TopicPartition{"b", 0, 101}));
  EXPECT_EQ(t.InFlight(), 1u);
}

TEST(OffsetTrackerTest, FinishingTwiceOrUnknownOffsetsChangesNothing) {
  OffsetTracker t;
  t.Started("t", 0, 4);
  t.Finished("t", 0, 4);
  EXPECT_THAT(t.TakeCommittable(), ElementsAre(TopicPartition{"t", 0, 5}));
  t.Finished("t", 0, 4);
  t.Finished("t", 0, 9);  // never started
  t.Finished("x", 3, 1);  // unknown partition
  EXPECT_THAT(t.TakeCommittable(), IsEmpty());
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
  EXPECT_THAT(t.TakeCommittable(), ElementsAre(TopicPartition{"t", 1, 0}));
  // Reassigned later, it starts afresh.
  t.Started("t", 0, 1);
  t.Finished("t", 0, 1);
  EXPECT_THAT(t.TakeCommittable(), ElementsAre(TopicPartition{"t", 0, 2}));
}

}  // namespace
}  // namespace krond::worker
