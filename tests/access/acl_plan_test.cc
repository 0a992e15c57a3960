#include "access/acl_plan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

namespace krond::access {
namespace {

using kafka::AclBinding;
using Op = AclBinding::Operation;
using Res = AclBinding::Resource;

const messages::TopicNames kNames("p");
const Principals kAll{"User:s", true, "User:w", "User:c"};

bool Allows(const std::vector<AclBinding>& plan, const std::string& principal, Res resource,
            const std::string& name, Op op) {
  return std::find(plan.begin(), plan.end(), AclBinding{resource, name, principal, op}) !=
         plan.end();
}

std::vector<AclBinding> Of(const std::vector<AclBinding>& plan, const std::string& principal) {
  std::vector<AclBinding> out;
  for (const auto& b : plan) {
    if (b.principal == principal) out.push_back(b);
  }
  return out;
}

TEST(AclPlan, WorkersReadTasksButCannotWriteThem) {
  const auto plan = PlanAcls(kNames, {"a", "b"}, kAll);
  for (const std::string c : {"a", "b"}) {
    EXPECT_TRUE(Allows(plan, "User:w", Res::kTopic, "p.tasks." + c, Op::kRead));
    EXPECT_FALSE(Allows(plan, "User:w", Res::kTopic, "p.tasks." + c, Op::kWrite));
    EXPECT_TRUE(Allows(plan, "User:w", Res::kTopic, "p.retry." + c, Op::kRead));
    EXPECT_TRUE(Allows(plan, "User:w", Res::kTopic, "p.retry." + c, Op::kWrite));
    EXPECT_TRUE(Allows(plan, "User:w", Res::kTopic, "p.dead." + c, Op::kWrite));
    EXPECT_TRUE(Allows(plan, "User:w", Res::kGroup, "p.workers.main." + c, Op::kRead));
    EXPECT_TRUE(Allows(plan, "User:w", Res::kGroup, "p.workers.retry." + c, Op::kRead));
  }
  EXPECT_TRUE(Allows(plan, "User:w", Res::kTopic, "p.results", Op::kWrite));
  // Exactly these: 6 per cluster, plus results. Nothing to create, no transactions.
  EXPECT_EQ(Of(plan, "User:w").size(), 2u * 6 + 1);
}

TEST(AclPlan, SchedulerWritesTasksAndOwnsItsHaState) {
  const auto plan = PlanAcls(kNames, {"a"}, kAll);
  EXPECT_TRUE(Allows(plan, "User:s", Res::kTopic, "p.tasks.a", Op::kWrite));
  EXPECT_FALSE(Allows(plan, "User:s", Res::kTopic, "p.tasks.a", Op::kRead));
  EXPECT_TRUE(Allows(plan, "User:s", Res::kTopic, "p.state", Op::kRead));
  EXPECT_TRUE(Allows(plan, "User:s", Res::kTopic, "p.state", Op::kWrite));
  EXPECT_TRUE(Allows(plan, "User:s", Res::kTopic, "p.leader", Op::kRead));
  EXPECT_TRUE(Allows(plan, "User:s", Res::kGroup, "p.scheduler-leader", Op::kRead));
  EXPECT_TRUE(Allows(plan, "User:s", Res::kTransactionalId, "p.scheduler", Op::kWrite));
  for (const auto& b : Of(plan, "User:s")) {
    if (b.name == "p.results" || b.name == "p.retry.a" || b.name == "p.dead.a") {
      EXPECT_EQ(b.operation, Op::kDescribe) << FormatAcl(b);
    }
  }
}

TEST(AclPlan, ConsoleReadsDeadLettersAndReplaysTasks) {
  const auto plan = PlanAcls(kNames, {"a"}, kAll);
  EXPECT_TRUE(Allows(plan, "User:c", Res::kTopic, "p.dead.a", Op::kRead));
  EXPECT_TRUE(Allows(plan, "User:c", Res::kTopic, "p.dead.a", Op::kWrite));
  EXPECT_TRUE(Allows(plan, "User:c", Res::kTopic, "p.tasks.a", Op::kWrite));
  EXPECT_TRUE(Allows(plan, "User:c", Res::kTopic, "p.results", Op::kRead));
  EXPECT_EQ(Of(plan, "User:c").size(), 4u);
}

TEST(AclPlan, LeavesOutRolesWithoutPrincipalAndHasNoDuplicates) {
  const auto plan = PlanAcls(kNames, {"a", "a"}, {"", false, "User:w", ""});
  EXPECT_EQ(plan.size(), 7u);
  for (const auto& b : plan) EXPECT_EQ(b.principal, "User:w");
}

TEST(AclPlan, PlainSchedulerOnlyWritesTasks) {
  const auto plan = PlanAcls(kNames, {"a"}, {"User:s", false, "", ""});
  EXPECT_EQ(plan, (std::vector<AclBinding>{{Res::kTopic, "p.dead.a", "User:s", Op::kDescribe},
                                           {Res::kTopic, "p.results", "User:s", Op::kDescribe},
                                           {Res::kTopic, "p.retry.a", "User:s", Op::kDescribe},
                                           {Res::kTopic, "p.tasks.a", "User:s", Op::kWrite}}));
}

TEST(AclPlan, NoRoleMayCreateClusterTopics) {
  for (const auto& b : PlanAcls(kNames, {"a"}, kAll)) {
    if (b.operation == Op::kCreate) {
      EXPECT_THAT(b.name, testing::AnyOf("p.state", "p.leader"));
    }
  }
}

TEST(AclPlan, PrincipalsMustBeNamedUsers) {
  EXPECT_TRUE(ValidatePrincipal("User:krond-worker"));
  EXPECT_FALSE(ValidatePrincipal("krond-worker"));
  EXPECT_FALSE(ValidatePrincipal("User:"));
  auto wildcard = ValidatePrincipal("User:*");
  ASSERT_FALSE(wildcard);
  EXPECT_THAT(wildcard.error().message, testing::HasSubstr("every user"));
}

TEST(AclPlan, FormatsLikeKafkaAcls) {
  EXPECT_EQ(FormatAcl({Res::kTopic, "p.tasks.a", "User:w", Op::kRead}),
            "ALLOW User:w Read Topic p.tasks.a");
  EXPECT_EQ(FormatAcl({Res::kTransactionalId, "p.scheduler", "User:s", Op::kWrite}),
            "ALLOW User:s Write TransactionalId p.scheduler");
  EXPECT_EQ(KafkaAclsCommand({Res::kTransactionalId, "p.scheduler", "User:s", Op::kWrite}),
            "kafka-acls.sh --bootstrap-server BROKERS --command-config ADMIN.properties --add "
            "--allow-principal User:s --operation Write --transactional-id p.scheduler");
}

}  // namespace
}  // namespace krond::access
