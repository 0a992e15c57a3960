#pragma once

#include <string>
#include <vector>

#include "kafka/kafka.h"
#include "messages/topics.h"

// Who may do what on Kafka: the least-privilege ACLs of each krond role, derived from the
// topic, group and transactional-id names the roles use (messages/topics.h). Pure; `krond
// acls` prints the plan or creates it through kafka::Admin. docs/security.md has the table.
namespace krond::access {

// The Kafka principal of each role ("User:NAME"); an empty one is left out of the plan.
struct Principals {
  // `krond scheduler` (every replica).
  std::string scheduler;
  // `krond worker`, both queues.
  std::string worker;
  // `krond console` and operators' commands (`krond dead list|replay`, `krond audit`).
  std::string console;
};

// The bindings that let each role do its work on `clusters`, and nothing more:
//  - scheduler: write (and, for its audit, read) the task topics, in transactions under its
//    one transactional id; read and write the lease, state, skips and job catalog topics;
//    read results (audit) and pause requests; see (Describe) the retry and dead topics,
//    which it checks at start;
//  - worker: read the task and retry topics (through its queue's group) and write results,
//    retry and dead letters of its cluster; read the catalog and pause requests (through its
//    own groups, a prefixed ACL); write and read back the clock topic's probes (followed
//    without a group). It cannot write a task topic, so a worker that is taken
//    over cannot make the other workers run a command;
//  - console: read every topic of its clusters (tasks, retries, dead letters, results, the
//    catalog, pause requests) through its own groups (a prefixed ACL), and write tasks (run
//    now, backfill, replay), the dead topic's replay markers and pause requests.
// Topic creation (`krond topics ensure`) is left to an administrator. Sorted by principal,
// no duplicates.
// Requires: clusters non-empty, principals of the form "User:NAME" (see Validate).
std::vector<kafka::AclBinding> PlanAcls(const messages::TopicNames& names,
                                        const std::vector<std::string>& clusters,
                                        const Principals& principals);

// A principal that Kafka's StandardAuthorizer understands: "User:NAME" with a non-empty name
// and no wildcard (a "User:*" would grant a role's rights to everyone).
[[nodiscard]] Status ValidatePrincipal(const std::string& principal);

// One line per binding, in kafka-acls.sh's words, e.g.
// "ALLOW User:krond-worker Read Topic krond.tasks.c" (every name is a literal pattern).
std::string FormatAcl(const kafka::AclBinding& binding);

// The kafka-acls.sh command that creates `binding`, for what the Admin client cannot create.
std::string KafkaAclsCommand(const kafka::AclBinding& binding);

}  // namespace krond::access
