#include "control/control_follower.h"

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include "fakes/captured_log.h"
#include "fakes/fake_kafka.h"
#include "messages/catalog.h"

namespace krond::control {
namespace {

const std::string kControl = "t.control";
const std::string kJobs = "t.jobs";

std::string Pause(const std::string& job, bool paused) {
  return messages::Encode(messages::ControlRecord{job, paused, "alice", SystemTime{}, ""});
}

class ControlFollowerTest : public ::testing::Test {
 protected:
  ControlFollowerTest()
      : gate_(kControl, kJobs), follower_(consumer_, gate_, [this] { ++errors_; }) {}

  testing::FakeConsumer consumer_;
  RunGate gate_;
  ControlFollower follower_;
  int errors_ = 0;
};

TEST_F(ControlFollowerTest, SubscribesToTheControlAndCatalogTopics) {
  ASSERT_TRUE(follower_.Start());
  EXPECT_EQ(consumer_.subscribed(), (std::vector<std::string>{kControl, kJobs}));
}

TEST_F(ControlFollowerTest, FeedsTheGateFromBothTopics) {
  testing::CapturedLog log;
  ASSERT_TRUE(follower_.Start());
  consumer_.Assign({{kControl, 0}, {kJobs, 0}});
  EXPECT_EQ(follower_.Poll(std::chrono::milliseconds(0)), 0u);
  consumer_.Append(kJobs, 0, "a", R"({"v":1})");
  consumer_.Append(kJobs, 0, "b", R"({"v":1})");
  consumer_.Append(kControl, 0, "a", Pause("a", true));
  consumer_.Append(kControl, 0, "x", "garbage");
  consumer_.Append(kJobs, 0, "b", "");
  EXPECT_EQ(follower_.Poll(std::chrono::milliseconds(0)), 4u);
  EXPECT_EQ(gate_.CancelReason("a"), "paused");
  EXPECT_EQ(gate_.CancelReason("b"), "removed");
  EXPECT_EQ(gate_.CancelReason("x"), std::nullopt);
  ASSERT_EQ(log.Lines().size(), 1u);
  EXPECT_NE(log.Lines()[0].find("\"x\""), std::string::npos) << log.Lines()[0];

  consumer_.Append(kControl, 0, "a", Pause("a", false));
  consumer_.Append(kJobs, 0, "b", R"({"v":1})");
  EXPECT_EQ(follower_.Poll(std::chrono::milliseconds(0)), 2u);
  EXPECT_EQ(gate_.CancelReason("a"), std::nullopt);
  EXPECT_EQ(gate_.CancelReason("b"), std::nullopt);
}

TEST_F(ControlFollowerTest, TheGateIsReadyOnceBothTopicsAreReadToTheirEnd) {
  ASSERT_TRUE(follower_.Start());
  EXPECT_EQ(follower_.Poll(std::chrono::milliseconds(0)), 0u);
  EXPECT_FALSE(gate_.ready()) << "nothing assigned: nothing read";
  consumer_.Append(kControl, 0, "a", Pause("a", true));
  for (size_t i = 0; i <= ControlFollower::kMaxBatch; ++i) {
    consumer_.Append(kJobs, 0, "j" + std::to_string(i), R"({"v":1})");
  }
  consumer_.Assign({{kControl, 0}});
  EXPECT_EQ(follower_.Poll(std::chrono::milliseconds(0)), 1u);
  EXPECT_FALSE(gate_.ready()) << "the catalog is not assigned yet";
  consumer_.Assign({{kJobs, 0}});
  EXPECT_EQ(follower_.Poll(std::chrono::milliseconds(0)), ControlFollower::kMaxBatch);
  EXPECT_FALSE(gate_.ready()) << "one record still to read";
  consumer_.Append(kJobs, 0, "a", "");
  EXPECT_EQ(follower_.Poll(std::chrono::milliseconds(0)), 2u);
  EXPECT_TRUE(gate_.ready());
  EXPECT_EQ(gate_.CancelReason("a"), "removed");
  // Once ready, it stays ready while new records arrive.
  consumer_.Append(kControl, 0, "b", Pause("b", true));
  EXPECT_TRUE(gate_.ready());
  EXPECT_EQ(follower_.Poll(std::chrono::milliseconds(0)), 1u);
  EXPECT_TRUE(gate_.ready());
}

TEST_F(ControlFollowerTest, AFollowerThatCannotReadNeverMakesTheGateReady) {
  ASSERT_TRUE(follower_.Start());
  consumer_.Assign({{kControl, 0}, {kJobs, 0}});
  consumer_.Append(kControl, 0, "a", Pause("a", true));
  for (int i = 0; i < 3; ++i) consumer_.ScriptError("Broker: Topic authorization failed");
  for (int i = 0; i < 3; ++i) follower_.Poll(std::chrono::milliseconds(0));
  EXPECT_FALSE(gate_.ready());
}

TEST_F(ControlFollowerTest, AFailedPollIsCountedAndLoggedOncePerError) {
  testing::CapturedLog log;
  ASSERT_TRUE(follower_.Start());
  consumer_.Assign({{kControl, 0}, {kJobs, 0}});
  for (int i = 0; i < 3; ++i) consumer_.ScriptError("Broker: Topic authorization failed");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(follower_.Poll(std::chrono::milliseconds(0)), 0u);
  EXPECT_EQ(errors_, 3);
  ASSERT_EQ(log.Lines().size(), 1u);
  EXPECT_NE(log.Lines()[0].find("Topic authorization failed"), std::string::npos);
  // It goes on after the error; the same error after a good poll is logged again.
  consumer_.Append(kControl, 0, "a", Pause("a", true));
  EXPECT_EQ(follower_.Poll(std::chrono::milliseconds(0)), 1u);
  EXPECT_EQ(gate_.CancelReason("a"), "paused");
  consumer_.ScriptError("Broker: Topic authorization failed");
  EXPECT_EQ(follower_.Poll(std::chrono::milliseconds(0)), 0u);
  EXPECT_EQ(log.Lines().size(), 2u);
}

TEST_F(ControlFollowerTest, APollIsBounded) {
  ASSERT_TRUE(follower_.Start());
  consumer_.Assign({{kJobs, 0}});
  const size_t total = ControlFollower::kMaxBatch + 10;
  for (size_t i = 0; i < total; ++i) consumer_.Append(kJobs, 0, "j" + std::to_string(i), "");
  EXPECT_EQ(follower_.Poll(std::chrono::milliseconds(0)), ControlFollower::kMaxBatch);
  EXPECT_EQ(follower_.Poll(std::chrono::milliseconds(0)), 10u);
  EXPECT_EQ(gate_.CancelReason("j" + std::to_string(total - 1)), "removed");
}

TEST_F(ControlFollowerTest, RunPollsUntilStoppedThenLeavesTheGroup) {
  testing::CapturedLog log;
  // The error hook stops it on the third poll, which fails.
  std::stop_source stop;
  ControlFollower follower(consumer_, gate_, [&] {
    if (consumer_.polls() == 3) stop.request_stop();
  });
  ASSERT_TRUE(follower.Start());
  consumer_.Assign({{kControl, 0}});
  consumer_.Append(kControl, 0, "a", Pause("a", true));
  consumer_.ScriptError("first");
  consumer_.ScriptError("second");
  consumer_.ScriptError("third");
  follower.Run(stop.get_token(), std::chrono::milliseconds(0));
  EXPECT_EQ(consumer_.polls(), 3);
  EXPECT_TRUE(consumer_.closed());
  // Stopped before its record: the scripted errors come first.
  EXPECT_EQ(gate_.CancelReason("a"), std::nullopt);
}

}  // namespace
}  // namespace krond::control
