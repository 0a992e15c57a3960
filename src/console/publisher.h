#pragma once

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "kafka/kafka.h"
#include "messages/run_messages.h"
#include "messages/topics.h"

namespace krond::console {

// One record the API writes: a task, a control record or a replay marker.
struct Outgoing {
  std::string topic;
  std::string key;
  std::string value;
  // kafka::Producer::ProduceRouted's partition key; empty: the key chooses the partition.
  std::string partition_key{};
};

// The record of a task (run now, backfill, replay) whose message is `value` (plain or signed:
// messages::TaskSigner): on its cluster's task topic, keyed by its run id and routed by its
// job (messages::PartitionKeyOf) like every other producer of tasks, so one worker at a time
// owns the job.
Outgoing TaskRecord(const messages::TopicNames& topics, const messages::TaskMessage& task,
                    std::string value);

// Where the API's state changes go: Kafka, which stays the source of truth. The store only
// learns of them when the ingester reads them back.
class Publisher {
 public:
  virtual ~Publisher() = default;
  // Produces `records` in order and waits until Kafka acknowledged every one. The error is
  // the 503 message: Kafka did not acknowledge in time (records may still be written: the
  // caller says so). Thread-safe.
  [[nodiscard]] virtual Status PublishAndWait(const std::vector<Outgoing>& records) = 0;
};

// A Publisher over a kafka::Producer whose message.timeout.ms bounds how long a record may
// wait for the broker (the console sets it to `timeout`), so a request is answered within
// about `timeout` and a refused record is not written later. Serialises callers.
class KafkaPublisher final : public Publisher {
 public:
  KafkaPublisher(kafka::Producer& producer, const Clock& clock, std::chrono::milliseconds timeout)
      : producer_(producer), clock_(clock), timeout_(timeout) {}
  [[nodiscard]] Status PublishAndWait(const std::vector<Outgoing>& records) override;

 private:
  kafka::Producer& producer_;
  const Clock& clock_;
  const std::chrono::milliseconds timeout_;
  std::mutex mu_;  // one request's records at a time
};

}  // namespace krond::console
