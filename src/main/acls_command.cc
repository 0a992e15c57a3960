// `krond acls`: prints the least-privilege ACLs of each krond role, or creates them.
#include <spdlog/spdlog.h>

#include <iostream>

#include "access/acl_plan.h"
#include "kafka/rdkafka_client.h"
#include "main/app_support.h"
#include "main/command.h"

namespace krond::app {
namespace {

struct AclsFlags {
  std::string jobs;
  std::vector<std::string> clusters;
  access::Principals principals;
  bool apply = false;
  KafkaFlags kafka;
};

int RunAcls(const AclsFlags& flags) {
  auto clusters = CommandClusters("krond acls", flags.jobs, flags.clusters);
  if (!clusters) return clusters.error();
  const access::Principals& p = flags.principals;
  if (p.scheduler.empty() && p.worker.empty() && p.console.empty()) {
    std::cerr << "krond acls: name at least one of --principal-scheduler, --principal-worker, "
                 "--principal-console\n";
    return 2;
  }
  for (const std::string* principal : {&p.scheduler, &p.worker, &p.console}) {
    if (principal->empty()) continue;
    if (auto ok = access::ValidatePrincipal(*principal); !ok) {
      std::cerr << "krond acls: " << ok.error().message << "\n";
      return 2;
    }
  }
  const auto plan = access::PlanAcls(flags.kafka.Topics(), *clusters, p);
  for (const auto& binding : plan) std::cout << access::FormatAcl(binding) << "\n";
  if (!flags.apply) return 0;

  auto admin = CommandAdmin(flags.kafka, "krond-acls");
  if (!admin) return admin.error();
  auto unsent = (*admin)->CreateAcls(plan, std::chrono::seconds(30));
  if (!unsent) {
    std::cerr << "krond acls: " << unsent.error().message << "\n";
    return 1;
  }
  std::cout << "created " << plan.size() - unsent->size() << " ACLs\n";
  if (unsent->empty()) return 0;
  std::cerr << "krond acls: this client library cannot create " << unsent->size()
            << " ACL(s); create them with Kafka's tool:\n";
  for (const auto& b : *unsent) std::cerr << "  " << access::KafkaAclsCommand(b) << "\n";
  return 3;
}

KROND_REGISTER_COMMAND(Command{
    "acls", "Print (or --apply) the least-privilege Kafka ACLs of each krond role",
    [](CLI::App& sub) -> std::function<int()> {
      auto flags = std::make_shared<AclsFlags>();
      sub.add_option("--jobs", flags->jobs, "Job file whose clusters to cover");
      sub.add_option("--cluster", flags->clusters, "A cluster (repeatable)");
      sub.add_option("--principal-scheduler", flags->principals.scheduler,
                     "Principal of the schedulers, e.g. User:krond-scheduler");
      sub.add_option("--principal-worker", flags->principals.worker,
                     "Principal of the workers (both queues)");
      sub.add_option("--principal-console", flags->principals.console,
                     "Principal of the console and operators' commands (dead list|replay, audit)");
      sub.add_flag("--apply", flags->apply,
                   "Create the ACLs through the Admin API (needs a principal allowed to alter "
                   "the cluster's ACLs); exit 3 when some must be created with kafka-acls.sh");
      flags->kafka.Add(sub);
      return [flags] { return RunAcls(*flags); };
    }});

}  // namespace
}  // namespace krond::app
