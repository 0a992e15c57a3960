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
const Principals kAll{"User:s", "User:w", "User:c"};

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
  // Exactly these: 6 per cluster, plus results, what its run gate follows and the clock
  // topic (below). Nothing to create, no transactions.
  EXPECT_EQ(Of(plan, "User:w").size(), 2u * 6 + 6);
}

TEST(AclPlan, WorkersWriteAndReadBackClockProbesWithoutAGroup) {
  const auto plan = PlanAcls(kNames, {"a"}, kAll);
  EXPECT_TRUE(Allows(plan, "User:w", Res::kTopic, "p.clock", Op::kWrite));
  EXPECT_TRUE(Allows(plan, "User:w", Res::kTopic, "p.clock", Op::kRead));
  for (const auto& b : Of(plan, "User:w")) {
    if (b.resource == Res::kGroup) {
      EXPECT_THAT(b.name, testing::AnyOf(testing::StartsWith("p.workers."),
                                         testing::StartsWith("p.worker-control.")))
          << FormatAcl(b);
    }
  }
  // Only workers probe.
  for (const std::string other : {"User:s", "User:c"}) {
    for (const auto& b : Of(plan, other)) EXPECT_NE(b.name, "p.clock") << FormatAcl(b);
  }
}

TEST(AclPlan, WorkersFollowTheCatalogAndPauseRequestsButCannotWriteThem) {
  const auto plan = PlanAcls(kNames, {"a"}, kAll);
  for (const std::string topic : {"p.jobs", "p.control"}) {
    EXPECT_TRUE(Allows(plan, "User:w", Res::kTopic, topic, Op::kRead)) << topic;
    EXPECT_FALSE(Allows(plan, "User:w", Res::kTopic, topic, Op::kWrite)) << topic;
  }
  const AclBinding groups{Res::kGroup, "p.worker-control.", "User:w", Op::kRead, true};
  EXPECT_NE(std::find(plan.begin(), plan.end(), groups), plan.end());
  EXPECT_EQ(FormatAcl(groups), "ALLOW User:w Read Group p.worker-control.*");
  // The prefix covers the group of every worker process, and no other role's group.
  EXPECT_EQ(kNames.WorkerControlGroup("host:42").rfind(groups.name, 0), 0u);
  EXPECT_NE(kNames.WorkerGroup(messages::Queue::kMain, "a").rfind(groups.name, 0), 0u);
}

TEST(AclPlan, SchedulerFiresInTransactionsAndOwnsItsLeaseStateAndSkips) {
  const auto plan = PlanAcls(kNames, {"a"}, kAll);
  EXPECT_TRUE(Allows(plan, "User:s", Res::kTopic, "p.tasks.a", Op::kWrite));
  EXPECT_TRUE(Allows(plan, "User:s", Res::kTopic, "p.tasks.a", Op::kRead));  // audit
  for (const std::string topic : {"p.leader", "p.state", "p.skips", "p.jobs"}) {
    EXPECT_TRUE(Allows(plan, "User:s", Res::kTopic, topic, Op::kRead)) << topic;
    EXPECT_TRUE(Allows(plan, "User:s", Res::kTopic, topic, Op::kWrite)) << topic;
  }
  EXPECT_TRUE(Allows(plan, "User:s", Res::kTopic, "p.control", Op::kRead));
  EXPECT_FALSE(Allows(plan, "User:s", Res::kTopic, "p.control", Op::kWrite));
  EXPECT_TRUE(Allows(plan, "User:s", Res::kTopic, "p.results", Op::kRead));
  EXPECT_TRUE(Allows(plan, "User:s", Res::kTransactionalId, "p.scheduler", Op::kWrite));
  for (const auto& b : Of(plan, "User:s")) {
    if (b.name == "p.retry.a" || b.name == "p.dead.a") {
      EXPECT_EQ(b.operation, Op::kDescribe) << FormatAcl(b);
    }
    if (b.resource == Res::kGroup) {  // only the control topic's group of each replica
      EXPECT_EQ(FormatAcl(b), "ALLOW User:s Read Group p.scheduler-control.*");
    }
  }
}

TEST(AclPlan, ConsoleReadsEverythingOfItsClustersAndWritesTasksAndRequests) {
  const auto plan = PlanAcls(kNames, {"a"}, kAll);
  EXPECT_TRUE(Allows(plan, "User:c", Res::kTopic, "p.dead.a", Op::kRead));
  EXPECT_TRUE(Allows(plan, "User:c", Res::kTopic, "p.dead.a", Op::kWrite));
  EXPECT_TRUE(Allows(plan, "User:c", Res::kTopic, "p.tasks.a", Op::kWrite));
  EXPECT_TRUE(Allows(plan, "User:c", Res::kTopic, "p.control", Op::kWrite));
  EXPECT_FALSE(Allows(plan, "User:c", Res::kTopic, "p.jobs", Op::kWrite));
  EXPECT_FALSE(Allows(plan, "User:c", Res::kTopic, "p.retry.a", Op::kWrite));
  for (const std::string topic :
       {"p.results", "p.jobs", "p.control", "p.skips", "p.tasks.a", "p.retry.a"}) {
    EXPECT_TRUE(Allows(plan, "User:c", Res::kTopic, topic, Op::kRead)) << topic;
  }
  const AclBinding groups{Res::kGroup, "p.console.", "User:c", Op::kRead, true};
  EXPECT_NE(std::find(plan.begin(), plan.end(), groups), plan.end());
  EXPECT_EQ(FormatAcl(groups), "ALLOW User:c Read Group p.console.*");
  EXPECT_THAT(KafkaAclsCommand(groups), testing::EndsWith("--resource-pattern-type prefixed"));
  EXPECT_EQ(Of(plan, "User:c").size(), 11u);
}

TEST(AclPlan, LeavesOutRolesWithoutPrincipalAndHasNoDuplicates) {
  const auto plan = PlanAcls(kNames, {"a", "a"}, {"", "User:w", ""});
  EXPECT_EQ(plan.size(), 12u);  // 6 per cluster (once), results, catalog, control, clock x2, groups
  for (const auto& b : plan) EXPECT_EQ(b.principal, "User:w");
}

TEST(AclPlan, NoRoleMayCreateTopics) {
  for (const auto& b : PlanAcls(kNames, {"a"}, kAll)) EXPECT_NE(b.operation, Op::kCreate);
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
