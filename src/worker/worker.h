#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "exec/executor.h"
#include "kafka/kafka.h"
#include "kafka/reliable_publisher.h"
#include "messages/run_messages.h"
#include "messages/topics.h"
#include "worker/offset_tracker.h"
#include "worker/worker_metrics.h"

namespace krond::worker {

// Worker settings. Plain struct; see Validate().
struct WorkerOptions {
  // The cluster whose runs this worker executes. Requires: non-empty.
  std::string cluster;
  // First attempts (main) or retries (retry). Default: main.
  messages::Queue queue = messages::Queue::kMain;
  // Runs executed at once. Default: 1. Requires: 1..1024.
  int slots = 1;
  // Identifies the worker in results. Default: host:pid (set by the command).
  std::string worker_id = "worker";
  // On stop, how long running commands may finish before they are cancelled (and their
  // runs left uncommitted, so another worker runs them again). Default: 30 s.
  std::chrono::milliseconds drain_timeout{30'000};
  // SIGTERM-to-SIGKILL grace when a run times out or is cancelled. Default: 5 s.
  std::chrono::milliseconds kill_grace{5'000};
  // Upper bound on any job's timeout. Default: 24 h.
  std::chrono::milliseconds max_timeout{86'400'000};
  // Bytes of output kept per run (the tail). Default: 16 KiB.
  size_t output_tail_bytes = 16 * 1024;
  // Seeds retry jitter, so tests are repeatable. Default: 0 = random.
  uint64_t seed = 0;
  [[nodiscard]] Status Validate() const;
};

// Consumes one cluster's task (or retry) topic and executes its runs on a pool of slots.
//
// The poll loop never blocks on a run: commands execute on slot threads, and the loop
// keeps polling (so the group membership lives however long a job runs). When every slot
// is busy, or a retry is not due yet, the partition is paused and rewound to the message
// in hand, so nothing fetched is lost and other partitions keep flowing.
//
// Delivery is at least once: a run's offset is committed only after its result (and its
// retry or dead letter) is acknowledged by Kafka, and commits never pass an unfinished run
// (OffsetTracker). Not thread-safe: one thread calls Start, Step and Stop.
class Worker : public kafka::RebalanceListener {
 public:
  Worker(const Clock& clock, kafka::Consumer& consumer, kafka::Producer& producer,
         exec::Executor& executor, WorkerMetrics& metrics, messages::TopicNames topics,
         WorkerOptions options);
  ~Worker() override;

  // Subscribes to the topic. The topic may not exist yet: runs start flowing within
  // seconds of its creation.
  [[nodiscard]] Status Start();
  // One round: finishes completed runs, polls Kafka for up to `poll_timeout`, dispatches,
  // resumes partitions whose wait is over, commits.
  void Step(std::chrono::milliseconds poll_timeout);
  // Stops fetching, lets running commands finish up to drain_timeout, cancels the rest
  // (their runs stay uncommitted and are redelivered), publishes and commits what finished,
  // and leaves the group.
  void Stop();

  size_t running() const { return running_; }
  uint64_t completed() const { return completed_; }
  bool ready() const { return subscribed_; }

  // RebalanceListener
  void OnAssigned(const std::vector<kafka::TopicPartition>& partitions) override;
  void OnRevoked(const std::vector<kafka::TopicPartition>& partitions) override;

 private:
  struct Run;
  struct Completion;
  using PartitionKey = std::pair<std::string, int32_t>;

  void OnMessage(kafka::ConsumedMessage message);
  void OnInvalid(const kafka::ConsumedMessage& message, const std::string& error);
  void Launch(kafka::ConsumedMessage message, messages::TaskMessage task);
  void Finish(Completion done);
  void DrainCompletions();
  // Parks `message`'s partition: rewinds it to the message and pauses it until `until`
  // (nullopt: until a slot frees).
  void Defer(const kafka::ConsumedMessage& message, std::optional<SystemTime> until);
  void ResumeDue();
  void SetAllPaused(bool paused);
  void Commit();
  messages::ResultMessage BaseResult(const messages::TaskMessage& task) const;
  // Publishes `values` (topic, value) keyed by run id; marks the offset finished once all
  // are acknowledged.
  void PublishThenFinish(const kafka::ConsumedMessage& source, const std::string& key,
                         std::vector<std::pair<std::string, std::string>> values);

  const Clock& clock_;
  kafka::Consumer& consumer_;
  exec::Executor& executor_;
  WorkerMetrics& metrics_;
  messages::TopicNames topics_;
  WorkerOptions options_;
  kafka::ReliablePublisher publisher_;
  OffsetTracker tracker_;
  std::mt19937_64 rng_;

  // Partitions parked by Defer: resume instant (nullopt = when a slot frees).
  std::map<PartitionKey, std::optional<SystemTime>> deferred_;
  bool all_paused_ = false;
  std::vector<kafka::TopicPartition> assigned_;

  std::mutex mu_;
  std::vector<Completion> completions_;  // guarded by mu_
  std::map<uint64_t, std::unique_ptr<Run>> runs_;
  uint64_t next_run_ = 0;
  size_t running_ = 0;
  uint64_t completed_ = 0;
  bool subscribed_ = false;
  bool stopped_ = false;
};

}  // namespace krond::worker
