#include "control/run_gate.h"

#include <gtest/gtest.h>

#include <thread>

#include "messages/catalog.h"

namespace krond::control {
namespace {

const std::string kControl = "t.control";
const std::string kJobs = "t.jobs";
const SystemTime kT0 = SystemTime(std::chrono::seconds(1'772'928'000));

kafka::ConsumedMessage Control(int64_t offset, const std::string& job, bool paused) {
  return {kControl, 0, offset, job,
          messages::Encode(messages::ControlRecord{job, paused, "alice", kT0, "maintenance"})};
}

// The gate reads only the key and whether there is a value: any definition will do.
kafka::ConsumedMessage Defined(int64_t offset, const std::string& job) {
  return {kJobs, 0, offset, job, R"({"v":1,"job":")" + job + R"("})"};
}

kafka::ConsumedMessage Tombstone(int64_t offset, const std::string& job) {
  return {kJobs, 0, offset, job, ""};
}

TEST(RunGateTest, FollowsTheControlThenTheCatalog) {
  RunGate gate(kControl, kJobs);
  EXPECT_EQ(gate.topics(), (std::vector<std::string>{kControl, kJobs}));
}

TEST(RunGateTest, IsNotReadyUntilItsFollowerSaysSo) {
  RunGate gate(kControl, kJobs);
  EXPECT_FALSE(gate.ready()) << "nothing read yet: a pause may be unread";
  gate.MarkReady();
  EXPECT_TRUE(gate.ready());
}

TEST(RunGateTest, AJobNeverSeenMayStart) {
  RunGate gate(kControl, kJobs);
  EXPECT_EQ(gate.CancelReason("new"), std::nullopt);
  // Records of other jobs change nothing for it.
  ASSERT_TRUE(gate.Apply(Control(0, "other", true)));
  ASSERT_TRUE(gate.Apply(Tombstone(0, "gone")));
  EXPECT_EQ(gate.CancelReason("new"), std::nullopt);
}

TEST(RunGateTest, APausedJobIsCancelledUntilResumed) {
  RunGate gate(kControl, kJobs);
  ASSERT_TRUE(gate.Apply(Defined(0, "a")));
  ASSERT_TRUE(gate.Apply(Control(0, "a", true)));
  EXPECT_EQ(gate.CancelReason("a"), "paused");
  ASSERT_TRUE(gate.Apply(Control(1, "a", false)));
  EXPECT_EQ(gate.CancelReason("a"), std::nullopt);
  ASSERT_TRUE(gate.Apply(Control(2, "a", true)));
  EXPECT_EQ(gate.CancelReason("a"), "paused");
  // A tombstone on the control topic (compaction's deletion) resumes.
  ASSERT_TRUE(gate.Apply({kControl, 0, 3, "a", ""}));
  EXPECT_EQ(gate.CancelReason("a"), std::nullopt);
}

TEST(RunGateTest, ARemovedJobIsCancelledUntilAddedAgain) {
  RunGate gate(kControl, kJobs);
  ASSERT_TRUE(gate.Apply(Defined(0, "a")));
  ASSERT_TRUE(gate.Apply(Defined(1, "b")));
  EXPECT_EQ(gate.CancelReason("a"), std::nullopt);
  ASSERT_TRUE(gate.Apply(Tombstone(2, "a")));
  EXPECT_EQ(gate.CancelReason("a"), "removed");
  EXPECT_EQ(gate.CancelReason("b"), std::nullopt);
  ASSERT_TRUE(gate.Apply(Defined(3, "a")));
  EXPECT_EQ(gate.CancelReason("a"), std::nullopt);
}

TEST(RunGateTest, ATombstoneWithoutADefinitionSeenStillRemoves) {
  // Compaction may have dropped the definition: the latest record is what counts.
  RunGate gate(kControl, kJobs);
  ASSERT_TRUE(gate.Apply(Tombstone(7, "a")));
  EXPECT_EQ(gate.CancelReason("a"), "removed");
}

TEST(RunGateTest, RemovedWinsOverPaused) {
  RunGate gate(kControl, kJobs);
  ASSERT_TRUE(gate.Apply(Control(0, "a", true)));
  ASSERT_TRUE(gate.Apply(Tombstone(0, "a")));
  EXPECT_EQ(gate.CancelReason("a"), "removed");
  ASSERT_TRUE(gate.Apply(Defined(1, "a")));
  EXPECT_EQ(gate.CancelReason("a"), "paused");
}

TEST(RunGateTest, ReadingATopicAgainDoesNotGoBackInTime) {
  RunGate gate(kControl, kJobs);
  ASSERT_TRUE(gate.Apply(Control(0, "a", true)));
  ASSERT_TRUE(gate.Apply(Control(1, "a", false)));
  ASSERT_TRUE(gate.Apply(Defined(0, "b")));
  ASSERT_TRUE(gate.Apply(Tombstone(1, "b")));
  ASSERT_TRUE(gate.Apply(Defined(0, "c")));
  // A consumer that starts from the beginning again: records at or before the last applied
  // offset of their partition are ignored.
  ASSERT_TRUE(gate.Apply(Control(0, "a", true)));
  ASSERT_TRUE(gate.Apply(Defined(0, "b")));
  ASSERT_TRUE(gate.Apply(Tombstone(1, "c")));
  EXPECT_EQ(gate.CancelReason("a"), std::nullopt);
  EXPECT_EQ(gate.CancelReason("b"), "removed");
  EXPECT_EQ(gate.CancelReason("c"), std::nullopt);
  // The order is per topic and partition: offset 0 of another partition is new.
  ASSERT_TRUE(gate.Apply({kJobs, 1, 0, "c", ""}));
  EXPECT_EQ(gate.CancelReason("c"), "removed");
}

TEST(RunGateTest, AnUndecodableControlRecordChangesNothing) {
  RunGate gate(kControl, kJobs);
  ASSERT_TRUE(gate.Apply(Control(0, "a", true)));
  auto bad = gate.Apply({kControl, 0, 1, "a", "{not json"});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("\"a\""), std::string::npos);
  EXPECT_EQ(gate.CancelReason("a"), "paused");
}

TEST(RunGateTest, RefusesRecordsOfOtherTopics) {
  RunGate gate(kControl, kJobs);
  auto bad = gate.Apply({"t.tasks.c", 0, 0, "a", ""});
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("t.tasks.c"), std::string::npos);
  EXPECT_EQ(gate.CancelReason("a"), std::nullopt);
}

TEST(RunGateTest, AnswersWhileRecordsAreApplied) {
  // The follower's thread applies while the worker's threads ask (meaningful under a
  // sanitizer build: no data race, no torn answer).
  RunGate gate(kControl, kJobs);
  std::thread writer([&gate] {
    for (int64_t i = 0; i < 2000; ++i) {
      ASSERT_TRUE(gate.Apply(Control(i, "a", i % 2 == 0)));
      ASSERT_TRUE(gate.Apply(i % 2 == 0 ? Tombstone(i, "b") : Defined(i, "b")));
    }
  });
  for (int i = 0; i < 2000; ++i) {
    auto a = gate.CancelReason("a");
    EXPECT_TRUE(!a || *a == "paused");
    auto b = gate.CancelReason("b");
    EXPECT_TRUE(!b || *b == "removed");
  }
  writer.join();
  EXPECT_EQ(gate.CancelReason("a"), std::nullopt);  // the last record, 1999, resumes
  EXPECT_EQ(gate.CancelReason("b"), std::nullopt);  // and defines b again
}

}  // namespace
}  // namespace krond::control
