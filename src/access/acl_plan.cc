#include "access/acl_plan.h"

#include <algorithm>
#include <tuple>

namespace krond::access {
namespace {

using kafka::AclBinding;
using Op = AclBinding::Operation;
using Res = AclBinding::Resource;

class Plan {
 public:
  explicit Plan(std::string principal) : principal_(std::move(principal)) {}
  Plan& Allow(Res resource, const std::string& name, std::initializer_list<Op> operations) {
    for (Op op : operations) out_.push_back({resource, name, principal_, op});
    return *this;
  }
  Plan& AllowPrefixed(Res resource, const std::string& prefix,
                      std::initializer_list<Op> operations) {
    for (Op op : operations) out_.push_back({resource, prefix, principal_, op, true});
    return *this;
  }
  void AppendTo(std::vector<AclBinding>& all) { all.insert(all.end(), out_.begin(), out_.end()); }

 private:
  std::string principal_;
  std::vector<AclBinding> out_;
};

}  // namespace

std::vector<AclBinding> PlanAcls(const messages::TopicNames& names,
                                 const std::vector<std::string>& clusters,
                                 const Principals& principals) {
  std::vector<AclBinding> all;
  // Read and Write imply Describe (metadata, offsets); WRITE on a topic implies the
  // idempotent producer's right (KIP-679), so no cluster-wide ACL is needed.
  if (!principals.scheduler.empty()) {
    Plan p(principals.scheduler);
    // Every scheduler replica: fires (tasks, in transactions with its state), the lease, the
    // state and skips it reads back when it takes over, and the periodic audit, which reads
    // what it fired and the results; it follows the control topic in a group of its own per
    // replica. Describe: at start it checks that the other topics
    // exist with the configured partition count (it may not create them).
    for (const auto& c : clusters) {
      p.Allow(Res::kTopic, names.Tasks(c), {Op::kRead, Op::kWrite})
          .Allow(Res::kTopic, names.Retry(c), {Op::kDescribe})
          .Allow(Res::kTopic, names.Dead(c), {Op::kDescribe});
    }
    p.Allow(Res::kTopic, names.Results(), {Op::kRead})
        .Allow(Res::kTopic, names.Leader(), {Op::kRead, Op::kWrite})
        .Allow(Res::kTopic, names.State(), {Op::kRead, Op::kWrite})
        .Allow(Res::kTopic, names.Skips(), {Op::kRead, Op::kWrite})
        .Allow(Res::kTopic, names.Jobs(), {Op::kRead, Op::kWrite})
        .Allow(Res::kTopic, names.Control(), {Op::kRead})
        .AllowPrefixed(Res::kGroup, names.SchedulerControlGroupPrefix(), {Op::kRead})
        .Allow(Res::kTransactionalId, names.SchedulerTransactionalId(), {Op::kWrite})
        .AppendTo(all);
  }
  if (!principals.worker.empty()) {
    Plan p(principals.worker);
    for (const auto& c : clusters) {
      p.Allow(Res::kTopic, names.Tasks(c), {Op::kRead})
          .Allow(Res::kTopic, names.Retry(c), {Op::kRead, Op::kWrite})
          .Allow(Res::kTopic, names.Dead(c), {Op::kWrite})
          .Allow(Res::kGroup, names.WorkerGroup(messages::Queue::kMain, c), {Op::kRead})
          .Allow(Res::kGroup, names.WorkerGroup(messages::Queue::kRetry, c), {Op::kRead});
    }
    // Each worker process follows the catalog and control topics in a group of its own (its
    // run gate cancels held runs of removed and paused jobs); Read implies the Describe it
    // needs at start to check that they exist (ClusterTopics). The clock topic: it writes
    // probes and reads them back (worker/clock_probe.h), without a group.
    p.Allow(Res::kTopic, names.Results(), {Op::kWrite})
        .Allow(Res::kTopic, names.Jobs(), {Op::kRead})
        .Allow(Res::kTopic, names.Control(), {Op::kRead})
        .Allow(Res::kTopic, names.Clock(), {Op::kRead, Op::kWrite})
        .AllowPrefixed(Res::kGroup, names.WorkerControlGroupPrefix(), {Op::kRead})
        .AppendTo(all);
  }
  if (!principals.console.empty()) {
    Plan p(principals.console);
    // `krond dead list|replay`, and `krond console`: it ingests every topic of its clusters
    // (through a group of its own per database), writes tasks (run now, backfill, replay),
    // replay markers and pause/resume requests.
    for (const auto& c : clusters) {
      p.Allow(Res::kTopic, names.Tasks(c), {Op::kRead, Op::kWrite})
          .Allow(Res::kTopic, names.Retry(c), {Op::kRead})
          .Allow(Res::kTopic, names.Dead(c), {Op::kRead, Op::kWrite});
    }
    p.Allow(Res::kTopic, names.Results(), {Op::kRead})
        .Allow(Res::kTopic, names.Skips(), {Op::kRead})
        .Allow(Res::kTopic, names.Jobs(), {Op::kRead})
        .Allow(Res::kTopic, names.Control(), {Op::kRead, Op::kWrite})
        .AllowPrefixed(Res::kGroup, names.ConsoleGroupPrefix(), {Op::kRead})
        .AppendTo(all);
  }
  std::sort(all.begin(), all.end(), [](const AclBinding& a, const AclBinding& b) {
    return std::tie(a.principal, a.resource, a.name, a.prefixed, a.operation) <
           std::tie(b.principal, b.resource, b.name, b.prefixed, b.operation);
  });
  all.erase(std::unique(all.begin(), all.end()), all.end());
  return all;
}

Status ValidatePrincipal(const std::string& principal) {
  constexpr std::string_view kUser = "User:";
  if (principal.rfind(kUser, 0) != 0 || principal.size() == kUser.size()) {
    return MakeError("principal '" + principal + "' is not of the form User:NAME");
  }
  if (principal.find('*') != std::string::npos) {
    return MakeError("principal '" + principal +
                     "' has a wildcard: it would give the role's rights to every user");
  }
  return {};
}

std::string FormatAcl(const AclBinding& b) {
  return "ALLOW " + b.principal + " " + std::string(kafka::OperationName(b.operation)) + " " +
         std::string(kafka::ResourceName(b.resource)) + " " + b.name + (b.prefixed ? "*" : "");
}

std::string KafkaAclsCommand(const AclBinding& b) {
  std::string resource;
  switch (b.resource) {
    case Res::kTopic:
      resource = "--topic";
      break;
    case Res::kGroup:
      resource = "--group";
      break;
    case Res::kTransactionalId:
      resource = "--transactional-id";
      break;
  }
  return "kafka-acls.sh --bootstrap-server BROKERS --command-config ADMIN.properties --add "
         "--allow-principal " +
         b.principal + " --operation " + std::string(kafka::OperationName(b.operation)) + " " +
         resource + " " + b.name + (b.prefixed ? " --resource-pattern-type prefixed" : "");
}

}  // namespace krond::access
