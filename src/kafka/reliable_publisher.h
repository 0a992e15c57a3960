#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/clock.h"
#include "kafka/kafka.h"

namespace krond::kafka {

struct ReliablePublisherOptions {
  // Delay before failed messages are produced again. It doubles with each retry round that
  // fails while nothing is acknowledged, up to max_retry_delay. Default: 500 ms, and
  // max_retry_delay 500 ms (no growth). Requires: max_retry_delay >= retry_delay.
  std::chrono::milliseconds retry_delay{500};
  std::chrono::milliseconds max_retry_delay{500};
  // An unknown topic is retried for this long after the message first failed, in case the
  // topic is being created (librdkafka itself waits topic.metadata.propagation.max.ms, 30 s,
  // before it reports one); after that it is permanent. Default: 30 s.
  std::chrono::milliseconds unknown_topic_grace{30'000};
};

// Publishes messages that must not be lost to a passing fault, and never blocks on one that
// cannot be written at all.
//
// A message whose produce call or delivery fails with a retriable error (a broker down, a
// leader moving, the local queue full) is kept and produced again, until the broker
// acknowledges it. Failed messages are retried together, in the order they failed, one
// delay after the first of them failed (a fault is usually the broker's, not a message's);
// the delay backs off while whole rounds fail (retry_delay doubling up to max_retry_delay). A
// permanent error (ProduceErrorKind: too large, not authorized, unknown topic after its grace,
// invalid) ends that message at once: retrying would fail the same way forever and hold up whatever
// waits for it. One exception: the broker judges size per batch, so a small message batched with
// a big one is refused as too large with it. A message the broker refuses as too large is
// therefore produced once more on its own (after what is in flight is done, and before anything
// published meanwhile) and ends only if refused again. Either way the message's `on_done` runs
// exactly once, with the acknowledgement or the permanent error, so the caller decides what to do
// instead (e.g. publish a smaller record). Other messages are never held up by a failing one.
//
// Not thread-safe: use it from one thread, which must call Poll. Callbacks run on that
// thread, from Publish (a produce call failing for good), Poll or Flush, and may Publish.
class ReliablePublisher {
 public:
  // report.status: empty (acknowledged) or the permanent error.
  using DoneCallback = std::function<void(const DeliveryReport&)>;
  // What happens to a message after a failed attempt.
  enum class Next {
    kRetry,   // produced again after the retry delay
    kAlone,   // refused as too large, perhaps for its batch: produced again on its own
    kGiveUp,  // permanent: on_done gets the error
  };
  // Told about every failed attempt, for logs and counters.
  using FailureHook =
      std::function<void(const std::string& topic, const ProduceError& error, Next next)>;

  ReliablePublisher(Producer& producer, const Clock& clock, FailureHook on_failure,
                    ReliablePublisherOptions options = {});

  // `partition_key`: see Producer::ProduceRouted; empty = the key chooses the partition.
  void Publish(std::string topic, std::string key, std::string value, DoneCallback on_done,
               std::string partition_key = {});
  // Publishes a null value for `key`: on a compacted topic, the key's deletion.
  void PublishTombstone(std::string topic, std::string key, DoneCallback on_done);
  // Serves delivery reports (waiting up to `timeout` for one) and re-produces failed
  // messages whose delay has passed.
  void Poll(std::chrono::milliseconds timeout);
  // Polls until nothing is pending or `timeout` passes; error naming what is left.
  [[nodiscard]] Status Flush(std::chrono::milliseconds timeout);
  // Messages not yet done (in flight, waiting to be produced again, or held back while one is
  // produced alone).
  size_t Pending() const {
    return in_flight_.size() + waiting_.size() + alone_.size() + held_.size();
  }
  // Their keys (run ids), in no particular order: what a process stopping without a broker
  // leaves unpublished.
  std::vector<std::string> PendingKeys() const;
  // When the next retry is due, if any message is waiting.
  std::optional<MonoTime> NextRetry() const;

 private:
  struct Message {
    std::string topic, key, value;
    std::string partition_key;
    bool tombstone = false;
    DoneCallback on_done;
    int failures = 0;
    MonoTime first_failure{};
  };
  // How an attempt was made and how it failed.
  enum class Attempt { kBatched, kAlone };
  // Produces `m` now, or holds it back while a message is being produced alone.
  void Enqueue(std::shared_ptr<Message> m);
  void Produce(std::shared_ptr<Message> m, Attempt attempt = Attempt::kBatched);
  // A failed attempt: retried later, produced alone, or done with `error` when it is
  // permanent. `by_broker`: the delivery failed (not the produce call).
  void OnFailed(std::shared_ptr<Message> m, ProduceError error, Attempt attempt, bool by_broker);
  void RetryDue();
  // Produces the next message of alone_ once nothing is in flight; when alone_ is done,
  // produces what was held back meanwhile.
  void ProduceAloneNext();
  bool Isolating() const { return !alone_.empty() || alone_in_flight_; }

  Producer& producer_;
  const Clock& clock_;
  FailureHook on_failure_;
  const ReliablePublisherOptions options_;
  // Waiting for their retry, in the order they failed.
  std::deque<std::shared_ptr<Message>> waiting_;
  MonoTime next_retry_{};  // of waiting_, when not empty
  // Retry rounds since the last acknowledgement: the delay is retry_delay * 2^this, capped.
  int failed_rounds_ = 0;
  std::unordered_map<uint64_t, std::shared_ptr<Message>> in_flight_;
  // Refused as too large by the broker, to be produced one at a time with nothing else in
  // flight; published meanwhile (held until alone_ is done, so as not to share its batch).
  std::deque<std::shared_ptr<Message>> alone_;
  std::deque<std::shared_ptr<Message>> held_;
  bool alone_in_flight_ = false;
  uint64_t next_id_ = 0;
};

}  // namespace krond::kafka
