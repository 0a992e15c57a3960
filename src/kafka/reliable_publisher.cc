#include "kafka/reliable_publisher.h"

namespace krond::kafka {

ReliablePublisher::ReliablePublisher(
    Producer& producer, const Clock& clock,
    std::function<void(const std::string&, const std::string&)> on_failure,
    std::chrono::milliseconds retry_delay)
    : producer_(producer),
      clock_(clock),
      on_failure_(std::move(on_failure)),
      retry_delay_(retry_delay) {}

void ReliablePublisher::Publish(std::string topic, std::string key, std::string value,
                                AckCallback on_acked, std::string partition_key) {
  Produce(Message{std::move(topic), std::move(key), std::move(value), std::move(on_acked),
                  std::move(partition_key)});
}

void ReliablePublisher::PublishTombstone(std::string topic, std::string key, AckCallback on_acked) {
  Produce(Message{std::move(topic), std::move(key), {}, std::move(on_acked), {}, true});
}

void ReliablePublisher::Produce(Message m) {
  // The callback owns the message until it is acknowledged, so a failed delivery can be
  // produced again without copying on the happy path's hot loop more than once.
  auto shared = std::make_shared<Message>(std::move(m));
  // A default string_view has a null data pointer, which Producer writes as a null value.
  const std::string_view value = shared->tombstone ? std::string_view() : shared->value;
  ProduceStatus queued =
      producer_.ProduceRouted(shared->topic, shared->partition_key, shared->key, value,
                              [this, shared](const DeliveryReport& report) {
                                --in_flight_;
                                if (!report.status) {
                                  if (on_failure_)
                                    on_failure_(shared->topic, report.status.error().message);
                                  if (waiting_.empty())
                                    next_retry_ = clock_.MonoNow() + retry_delay_;
                                  waiting_.push_back(std::move(*shared));
                                  return;
                                }
                                if (shared->on_acked) shared->on_acked(report);
                              });
  if (!queued) {
    if (on_failure_) on_failure_(shared->topic, queued.error().message);
    if (waiting_.empty()) next_retry_ = clock_.MonoNow() + retry_delay_;
    waiting_.push_back(std::move(*shared));
    return;
  }
  ++in_flight_;
}

void ReliablePublisher::RetryDue() {
  if (waiting_.empty() || clock_.MonoNow() < next_retry_) return;
  std::deque<Message> batch;
  batch.swap(waiting_);
  for (auto& m : batch) Produce(std::move(m));
}

void ReliablePublisher::Poll(std::chrono::milliseconds timeout) {
  RetryDue();
  producer_.Poll(timeout);
}

std::optional<MonoTime> ReliablePublisher::NextRetry() const {
  if (waiting_.empty()) return std::nullopt;
  return next_retry_;
}

Status ReliablePublisher::Flush(std::chrono::milliseconds timeout) {
  const MonoTime deadline = clock_.MonoNow() + timeout;
  while (Pending() > 0 && clock_.MonoNow() < deadline) {
    Poll(std::chrono::milliseconds(50));
  }
  if (Pending() > 0) {
    return MakeError(std::to_string(Pending()) + " message(s) not acknowledged by Kafka");
  }
  return {};
}

}  // namespace krond::kafka
