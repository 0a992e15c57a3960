// `krond dead list|replay`: operators' view of a cluster's dead-letter topic.
//
// Replays are recorded in the dead-letter topic itself (a marker message naming the dead
// letter's position), so `list` shows what was already replayed and `replay` skips it
// unless --again is given: replaying twice by accident would run a job twice.
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <iostream>
#include <set>

#include "common/clock.h"
#include "common/time_format.h"
#include "kafka/rdkafka_client.h"
#include "kafka/reliable_publisher.h"
#include "main/app_support.h"
#include "main/command.h"
#include "messages/run_messages.h"
#include "messages/signed_task.h"

namespace krond::app {
namespace {

struct DeadFlags {
  std::string cluster;
  std::string job;
  std::string run_id;
  bool again = false;
  std::string task_signing_key;
  KafkaFlags kafka;
};

struct DeadEntry {
  std::string position;  // topic[partition]@offset
  messages::DeadLetter letter;
};

struct DeadTopic {
  std::vector<DeadEntry> letters;
  std::set<std::string> replayed;  // positions with a replay marker
  int unreadable = 0;
};

// Who replays, for the task's requested_by: the login name, as `krond dead replay` runs in
// an operator's shell.
std::string UserName() {
  const char* user = std::getenv("USER");
  return user != nullptr && *user != '\0' ? std::string(user) : "cli";
}

Result<DeadTopic> ReadDead(const DeadFlags& flags) {
  auto config = flags.kafka.Client("krond-dead");
  if (!config) return tl::unexpected(config.error());
  const std::string topic = flags.kafka.Topics().Dead(flags.cluster);
  auto messages = kafka::ReadTopicSnapshot(*config, topic, std::chrono::seconds(30));
  if (!messages) return tl::unexpected(messages.error());
  DeadTopic out;
  for (const auto& m : *messages) {
    const std::string position =
        m.topic + "[" + std::to_string(m.partition) + "]@" + std::to_string(m.offset);
    if (auto marker = messages::DecodeReplayMarker(m.value)) {
      out.replayed.insert(marker->replay_of);
      continue;
    }
    auto letter = messages::DecodeDeadLetter(m.value);
    if (!letter) {
      spdlog::warn("{}: unreadable dead letter: {}", position, letter.error().message);
      ++out.unreadable;
      continue;
    }
    out.letters.push_back({position, std::move(*letter)});
  }
  return out;
}

bool Matches(const DeadFlags& flags, const messages::DeadLetter& d) {
  const std::string& job = d.task ? d.task->job : d.last_result.job;
  const std::string& run = d.task ? d.task->run_id : d.last_result.run_id;
  return (flags.job.empty() || job == flags.job) && (flags.run_id.empty() || run == flags.run_id);
}

int RunList(const DeadFlags& flags) {
  auto dead = ReadDead(flags);
  if (!dead) {
    std::cerr << "krond dead list: " << dead.error().message << "\n";
    return 1;
  }
  int shown = 0;
  for (const auto& e : dead->letters) {
    if (!Matches(flags, e.letter)) continue;
    const auto& d = e.letter;
    const auto& r = d.last_result;
    std::cout << (d.task ? d.task->run_id : r.run_id) << "  " << (d.task ? d.task->job : "-")
              << "  scheduled " << (d.task ? FormatRfc3339Utc(d.task->scheduled_at) : "-")
              << "  attempts " << r.attempt << "  last " << messages::OutcomeName(r.outcome) << "  "
              << d.reason << (dead->replayed.count(e.position) ? "  [replayed]" : "") << "  ("
              << e.position << ")\n";
    ++shown;
  }
  std::cout << shown << " dead letter(s)";
  if (dead->unreadable > 0) std::cout << ", " << dead->unreadable << " unreadable";
  std::cout << "\n";
  return 0;
}

int RunReplay(const DeadFlags& flags) {
  auto loaded = LoadTaskSigner(flags.task_signing_key);
  if (!loaded) {
    std::cerr << "krond dead replay: --task-signing-key: " << loaded.error().message << "\n";
    return 2;
  }
  const messages::TaskSigner& signer = *loaded;
  auto dead = ReadDead(flags);
  if (!dead) {
    std::cerr << "krond dead replay: " << dead.error().message << "\n";
    return 1;
  }
  auto config = flags.kafka.Client("krond-dead-replay");
  if (!config) {
    std::cerr << config.error().message << "\n";
    return 2;
  }
  auto producer = kafka::NewRdKafkaProducer(*config, {});
  if (!producer) {
    std::cerr << producer.error().message << "\n";
    return 1;
  }
  RealClock clock;
  int refused = 0;
  kafka::ReliablePublisher publisher(**producer, clock,
                                     [&](const std::string& topic, const kafka::ProduceError& error,
                                         kafka::ReliablePublisher::Next) {
                                       spdlog::warn("publish to {}: {}", topic, error.message);
                                     });
  // Called only for a record Kafka refused for good (too large, not authorized, ...).
  auto refused_check = [&](const std::string& what) {
    return [&refused, what](const kafka::DeliveryReport& report) {
      if (report.status) return;
      ++refused;
      std::cerr << what << ": " << report.status.error().message << "\n";
    };
  };
  const messages::TopicNames topics = flags.kafka.Topics();
  int replayed = 0, skipped = 0;
  for (const auto& e : dead->letters) {
    if (!Matches(flags, e.letter)) continue;
    if (dead->replayed.count(e.position) && !flags.again) {
      std::cerr << e.position << ": already replayed (use --again to replay it once more)\n";
      ++skipped;
      continue;
    }
    const SystemTime now = clock.Now();
    auto task = messages::ReplayRun(e.letter, e.position, now, UserName());
    if (!task) {
      std::cerr << task.error().message << "\n";
      ++skipped;
      continue;
    }
    auto value = signer.Replay(e.letter, *task);
    if (!value) {
      std::cerr << e.position << ": not replayable: " << value.error().message << "\n";
      ++skipped;
      continue;
    }
    // The task first, then the marker: a crash in between replays again rather than never.
    publisher.Publish(topics.Tasks(task->cluster), task->run_id, *value,
                      refused_check("run " + task->run_id + " not replayed"),
                      std::string(messages::PartitionKeyOf(*task)));
    publisher.Publish(
        topics.Dead(flags.cluster), task->run_id,
        messages::Encode(messages::ReplayMarker{e.position, task->run_id, now, task->requested_by}),
        refused_check("replay marker of " + e.position + " not written"));
    std::cout << "replay " << task->run_id << " (" << task->job << ") from " << e.position << "\n";
    ++replayed;
  }
  if (auto ok = publisher.Flush(std::chrono::seconds(30)); !ok) {
    std::cerr << "krond dead replay: " << ok.error().message << "\n";
    return 1;
  }
  std::cout << "replayed " << replayed - refused << ", skipped " << skipped << "\n";
  return refused > 0 ? 1 : 0;
}

KROND_REGISTER_COMMAND(Command{
    "dead", "List or replay a cluster's dead-lettered runs",
    [](CLI::App& sub) -> std::function<int()> {
      auto flags = std::make_shared<DeadFlags>();
      auto mode = std::make_shared<std::string>();
      sub.require_subcommand(1);
      for (const char* name : {"list", "replay"}) {
        CLI::App* c = sub.add_subcommand(
            name, std::string(name) == "list"
                      ? "Show the dead letters of a cluster"
                      : "Put dead letters back on the task topic as first attempts");
        c->add_option("--cluster", flags->cluster, "Cluster")->required();
        c->add_option("--job", flags->job, "Only this job");
        c->add_option("--run-id", flags->run_id, "Only this run");
        if (std::string(name) == "replay") {
          c->add_flag("--again", flags->again, "Replay even if already replayed");
          c->add_option("--task-signing-key", flags->task_signing_key,
                        "Sign replayed tasks that were not signed (a signed task is replayed "
                        "with its original signature)")
              ->check(CLI::ExistingFile);
        }
        flags->kafka.Add(*c);
        c->callback([mode, name] { *mode = name; });
      }
      return [flags, mode] { return *mode == "list" ? RunList(*flags) : RunReplay(*flags); };
    }});

}  // namespace
}  // namespace krond::app
