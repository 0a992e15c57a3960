#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <string>

#include "common/clock.h"
#include "kafka/kafka.h"

namespace krond::kafka {

// Publishes messages that must not be lost: a message whose produce call or delivery fails
// is kept and produced again every `retry_delay` until the broker acknowledges it, and only
// then is its `on_acked` called. With the producer's infinite message timeout, deliveries
// fail only for reasons that can pass (topic deleted, queue full, fatal producer states),
// so retrying is right. Not thread-safe: use it from one thread, which must call Poll.
class ReliablePublisher {
 public:
  using AckCallback = std::function<void(const DeliveryReport&)>;
  // `on_failure` is told about every failed attempt (for logs and error counters).
  ReliablePublisher(
      Producer& producer, const Clock& clock,
      std::function<void(const std::string& topic, const std::string& error)> on_failure,
      std::chrono::milliseconds retry_delay = std::chrono::milliseconds(500));

  // `partition_key`: see Producer::ProduceRouted; empty = the key chooses the partition.
  void Publish(std::string topic, std::string key, std::string value, AckCallback on_acked,
               std::string partition_key = {});
  // Publishes a null value for `key`: on a compacted topic, the key's deletion.
  void PublishTombstone(std::string topic, std::string key, AckCallback on_acked);
  // Serves delivery reports (waiting up to `timeout` for one) and re-produces failed
  // messages whose delay has passed.
  void Poll(std::chrono::milliseconds timeout);
  // Polls until nothing is pending or `timeout` passes; error naming what is left.
  [[nodiscard]] Status Flush(std::chrono::milliseconds timeout);
  // Messages not yet acknowledged (in flight or waiting to be produced again).
  size_t Pending() const { return in_flight_ + waiting_.size(); }
  // When the next retry is due, if any message is waiting.
  std::optional<MonoTime> NextRetry() const;

 private:
  struct Message {
    std::string topic, key, value;
    AckCallback on_acked;
    std::string partition_key;
    bool tombstone = false;
  };
  void Produce(Message m);
  void RetryDue();

  Producer& producer_;
  const Clock& clock_;
  std::function<void(const std::string&, const std::string&)> on_failure_;
  std::chrono::milliseconds retry_delay_;
  std::deque<Message> waiting_;
  MonoTime next_retry_{};
  size_t in_flight_ = 0;
};

}  // namespace krond::kafka
