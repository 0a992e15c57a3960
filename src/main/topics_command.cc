// `krond topics ensure`: creates the topics of a job file's clusters.
#include <spdlog/spdlog.h>

#include <iostream>

#include "kafka/rdkafka_client.h"
#include "main/app_support.h"
#include "main/command.h"

namespace krond::app {
namespace {

struct TopicsFlags {
  std::string jobs;
  std::vector<std::string> clusters;
  KafkaFlags kafka;
};

int RunEnsure(const TopicsFlags& flags) {
  auto clusters = CommandClusters("krond topics ensure", flags.jobs, flags.clusters);
  if (!clusters) return clusters.error();
  auto admin = CommandAdmin(flags.kafka, "krond-topics");
  if (!admin) return admin.error();
  std::vector<kafka::TopicSpec> specs = ClusterTopics(flags.kafka, *clusters);
  for (auto& spec : SchedulerTopics(flags.kafka)) specs.push_back(std::move(spec));
  specs.push_back(ClockTopic(flags.kafka));
  auto reports = (*admin)->EnsureTopics(specs, std::chrono::seconds(15));
  if (!reports) {
    std::cerr << "krond topics ensure: " << reports.error().message << "\n";
    return 1;
  }
  for (const auto& r : *reports) {
    std::cout << r.topic << " "
              << (r.outcome == kafka::EnsureOutcome::kCreated ? "created" : "exists") << " ("
              << r.partitions << " partitions)\n";
  }
  return 0;
}

KROND_REGISTER_COMMAND(Command{
    "topics", "Manage krond's Kafka topics", [](CLI::App& sub) -> std::function<int()> {
      auto flags = std::make_shared<TopicsFlags>();
      sub.require_subcommand(1);
      CLI::App* ensure = sub.add_subcommand(
          "ensure",
          "Create the task, retry, dead-letter and results topics, the scheduler's lease, "
          "state and skips topics, and the workers' clock topic (existing: fine)");
      ensure->add_option("--jobs", flags->jobs, "Job file whose clusters to cover");
      ensure->add_option("--cluster", flags->clusters, "A cluster (repeatable)");
      flags->kafka.Add(*ensure);
      return [flags] { return RunEnsure(*flags); };
    }});

}  // namespace
}  // namespace krond::app
