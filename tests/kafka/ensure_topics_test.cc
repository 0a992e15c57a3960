#include <gtest/gtest.h>

#include <chrono>
#include <vector>

#include "fakes/fake_kafka.h"
#include "kafka/kafka.h"

namespace krond::kafka {
namespace {

using std::chrono::milliseconds;
using testing::FakeAdmin;

const std::vector<TopicSpec> kSpecs = {{"p.tasks.a", 2, 1, {}}, {"p.state", 1, 1, {}}};

TEST(EnsureTopicsPatientlyTest, RetriesOnlyWhileUnreachable) {
  FakeAdmin admin;
  admin.Script(
      {FakeAdmin::Fail(TopicErrorKind::kUnreachable, "no answer"),
       FakeAdmin::Fail(TopicErrorKind::kUnreachable, "no controller"),
       EnsureResult(std::vector<EnsureReport>{{"p.tasks.a", EnsureOutcome::kExisted, 2}})});
  std::vector<milliseconds> waits;
  auto result = EnsureTopicsPatiently(
      admin, kSpecs,
      [&](milliseconds d) {
        waits.push_back(d);
        return true;
      },
      milliseconds(5000), milliseconds(2000));
  ASSERT_TRUE(result.has_value()) << result.error().message;
  EXPECT_EQ(result->size(), 1u);
  EXPECT_EQ(waits, (std::vector<milliseconds>{milliseconds(2000), milliseconds(2000)}));
  EXPECT_EQ(admin.timeouts(), std::vector<milliseconds>(3, milliseconds(5000)));
}

TEST(EnsureTopicsPatientlyTest, ReturnsPermanentKindsAtOnce) {
  for (TopicErrorKind kind : {TopicErrorKind::kPartitionMismatch, TopicErrorKind::kRejected}) {
    FakeAdmin admin;
    admin.Script({FakeAdmin::Fail(kind, "exists with 3 partition(s)")});
    int waits = 0;
    auto result = EnsureTopicsPatiently(
        admin, kSpecs,
        [&](milliseconds) {
          ++waits;
          return true;
        },
        milliseconds(5000), milliseconds(2000));
    ASSERT_FALSE(result.has_value());
    EXPECT_EQ(result.error().kind, kind) << TopicErrorName(kind);
    EXPECT_EQ(waits, 0);
    EXPECT_EQ(admin.timeouts().size(), 1u);
  }
}

TEST(EnsureTopicsPatientlyTest, StopsWhenTheWaitSaysSo) {
  FakeAdmin admin;
  admin.Script({FakeAdmin::Fail(TopicErrorKind::kUnreachable, "no answer")});
  int waits = 0;
  auto result = EnsureTopicsPatiently(
      admin, kSpecs, [&](milliseconds) { return ++waits < 3; }, milliseconds(100),
      milliseconds(10));
  ASSERT_FALSE(result.has_value());
  EXPECT_EQ(result.error().kind, TopicErrorKind::kCancelled);
  EXPECT_EQ(waits, 3);
  EXPECT_EQ(admin.timeouts().size(), 3u);
}

}  // namespace
}  // namespace krond::kafka
