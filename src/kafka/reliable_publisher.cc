#include "kafka/reliable_publisher.h"

#include <algorithm>

namespace krond::kafka {

ReliablePublisher::ReliablePublisher(Producer& producer, const Clock& clock, FailureHook on_failure,
                                     ReliablePublisherOptions options)
    : producer_(producer), clock_(clock), on_failure_(std::move(on_failure)), options_(options) {}

void ReliablePublisher::Publish(std::string topic, std::string key, std::string value,
                                DoneCallback on_done, std::string partition_key) {
  auto m = std::make_shared<Message>();
  m->topic = std::move(topic);
  m->key = std::move(key);
  m->value = std::move(value);
  m->partition_key = std::move(partition_key);
  m->on_done = std::move(on_done);
  Enqueue(std::move(m));
}

void ReliablePublisher::PublishTombstone(std::string topic, std::string key, DoneCallback on_done) {
  auto m = std::make_shared<Message>();
  m->topic = std::move(topic);
  m->key = std::move(key);
  m->tombstone = true;
  m->on_done = std::move(on_done);
  Enqueue(std::move(m));
}

void ReliablePublisher::Enqueue(std::shared_ptr<Message> m) {
  if (Isolating()) {
    held_.push_back(std::move(m));
    return;
  }
  Produce(std::move(m));
}

void ReliablePublisher::Produce(std::shared_ptr<Message> m, Attempt attempt) {
  const uint64_t id = next_id_++;
  // The callback finds the message by id, so a failed delivery can be produced again
  // without copying it, and PendingKeys sees what is in flight.
  // A default string_view has a null data pointer, which Producer writes as a null value.
  const std::string_view value = m->tombstone ? std::string_view() : std::string_view(m->value);
  ProduceStatus queued = producer_.ProduceRouted(
      m->topic, m->partition_key, m->key, value, [this, id, attempt](const DeliveryReport& report) {
        auto it = in_flight_.find(id);
        if (it == in_flight_.end()) return;
        std::shared_ptr<Message> done = std::move(it->second);
        in_flight_.erase(it);
        if (attempt == Attempt::kAlone) alone_in_flight_ = false;
        if (!report.status) {
          OnFailed(std::move(done), report.status.error(), attempt, true);
        } else {
          failed_rounds_ = 0;
          if (done->on_done) done->on_done(report);
        }
        ProduceAloneNext();
      });
  if (!queued) {
    if (attempt == Attempt::kAlone) alone_in_flight_ = false;
    OnFailed(std::move(m), queued.error(), attempt, false);
    return ProduceAloneNext();
  }
  in_flight_.emplace(id, std::move(m));
}

void ReliablePublisher::OnFailed(std::shared_ptr<Message> m, ProduceError error, Attempt attempt,
                                 bool by_broker) {
  const MonoTime now = clock_.MonoNow();
  if (m->failures++ == 0) m->first_failure = now;
  Next next = IsPermanent(error.kind) ? Next::kGiveUp : Next::kRetry;
  if (error.kind == ProduceErrorKind::kUnknownTopic) {
    next = now - m->first_failure < options_.unknown_topic_grace ? Next::kRetry : Next::kGiveUp;
  }
  // The produce call checks the message alone; the broker checks the batch it came in.
  if (error.kind == ProduceErrorKind::kTooLarge && by_broker && attempt == Attempt::kBatched) {
    next = Next::kAlone;
  }
  if (on_failure_) on_failure_(m->topic, error, next);
  if (next == Next::kAlone) {
    alone_.push_back(std::move(m));
    return;
  }
  if (next == Next::kGiveUp) {
    if (m->on_done) {
      DeliveryReport report;
      report.topic = m->topic;
      report.status = tl::unexpected(std::move(error));
      m->on_done(report);
    }
    return;
  }
  if (waiting_.empty()) {
    auto delay = options_.retry_delay;
    for (int i = 0; i < failed_rounds_ && delay < options_.max_retry_delay; ++i) delay *= 2;
    next_retry_ = now + std::min(delay, options_.max_retry_delay);
  }
  waiting_.push_back(std::move(m));
}

void ReliablePublisher::ProduceAloneNext() {
  if (alone_in_flight_ || !in_flight_.empty()) return;
  if (!alone_.empty()) {
    std::shared_ptr<Message> m = std::move(alone_.front());
    alone_.pop_front();
    alone_in_flight_ = true;
    return Produce(std::move(m), Attempt::kAlone);
  }
  std::deque<std::shared_ptr<Message>> held;
  held.swap(held_);
  for (auto& m : held) Produce(std::move(m));
}

void ReliablePublisher::RetryDue() {
  // Retries wait too while a message is produced alone: they would share its batch.
  if (waiting_.empty() || Isolating() || clock_.MonoNow() < next_retry_) return;
  if (failed_rounds_ < 30) ++failed_rounds_;
  std::deque<std::shared_ptr<Message>> batch;
  batch.swap(waiting_);
  for (auto& m : batch) Produce(std::move(m));
}

void ReliablePublisher::Poll(std::chrono::milliseconds timeout) {
  RetryDue();
  producer_.Poll(timeout);
}

std::vector<std::string> ReliablePublisher::PendingKeys() const {
  std::vector<std::string> keys;
  keys.reserve(Pending());
  for (const auto& [id, m] : in_flight_) keys.push_back(m->key);
  for (const auto* queue : {&waiting_, &alone_, &held_}) {
    for (const auto& m : *queue) keys.push_back(m->key);
  }
  return keys;
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
