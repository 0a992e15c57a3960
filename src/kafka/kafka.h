#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/result.h"

// krond's view of Kafka: three small interfaces (Producer, Consumer, Admin) so the
// scheduler and workers can be tested without a broker, and one implementation on
// librdkafka (rdkafka_client.h). Nothing outside src/kafka includes librdkafka.
namespace krond::kafka {

// Settings shared by every client. Plain struct; see Validate().
struct ClientConfig {
  // Comma-separated host:port list. Requires: non-empty.
  std::string brokers;
  // Shown in broker logs and metrics. Default: "krond".
  std::string client_id = "krond";
  // Raw librdkafka properties applied last (CONFIGURATION.md names), for tuning.
  std::map<std::string, std::string> overrides;
  [[nodiscard]] Status Validate() const;
};

struct TopicPartition {
  std::string topic;
  int32_t partition = 0;
  // Next offset to read (for Commit) or a position; -1 when unknown.
  int64_t offset = -1;
  bool operator==(const TopicPartition&) const = default;
};

// Why a produce failed, after librdkafka's error code. Only kRetriable can pass by itself
// (a broker restarting, a leader moving, the local queue full); producing the same record
// again after any other kind fails again, so a caller that retries it forever only blocks
// what comes after it. kUnknownTopic is permanent once the topic could not be created; a
// caller that has just created it may wait for the metadata to catch up.
enum class ProduceErrorKind {
  kRetriable,
  kTooLarge,      // the record is over message.max.bytes (client, broker or topic)
  kUnauthorized,  // topic, cluster or transactional-id authorization failed
  kUnknownTopic,  // the topic or partition does not exist
  kInvalid,       // the record or the client's configuration is invalid
};
// "retriable", "too_large", "unauthorized", "unknown_topic", "invalid": for logs and labels.
std::string_view ProduceErrorName(ProduceErrorKind kind);
inline bool IsPermanent(ProduceErrorKind kind) { return kind != ProduceErrorKind::kRetriable; }

struct ProduceError {
  ProduceErrorKind kind = ProduceErrorKind::kRetriable;
  std::string message;
};
using ProduceStatus = tl::expected<void, ProduceError>;

struct DeliveryReport {
  std::string topic;
  int32_t partition = -1;
  int64_t offset = -1;
  ProduceStatus status;  // error when the message could not be written
};
using DeliveryCallback = std::function<void(const DeliveryReport&)>;

// Thread safety: Produce may be called from any thread; callbacks run on the thread that
// calls Poll or Flush.
class Producer {
 public:
  virtual ~Producer() = default;
  // Queues one message; never waits for the network. A `value` whose data() is null (a
  // default std::string_view) is written as a null value: a tombstone on a compacted topic. Fails
  // when the local queue is full (kRetriable: call Poll, then try again), the record is too large,
  // or the topic is unknown to the client. `on_delivery` runs exactly once, from Poll or Flush,
  // when the broker acknowledged (acks=all) or the message failed for good.
  [[nodiscard]] virtual ProduceStatus Produce(std::string_view topic, std::string_view key,
                                              std::string_view value,
                                              DeliveryCallback on_delivery) = 0;
  // Serves delivery callbacks; waits up to `timeout` for one.
  virtual void Poll(std::chrono::milliseconds timeout) = 0;
  // Waits until every queued message has its callback, or `timeout`.
  [[nodiscard]] virtual Status Flush(std::chrono::milliseconds timeout) = 0;
  // Messages queued and not yet delivered.
  virtual int InFlight() const = 0;
};

// How a transactional call failed, after librdkafka's error classes: what the caller does
// next depends on it.
enum class TxnErrorKind {
  kRetriable,  // e.g. a timeout while a broker is down: call the same function again
  kAbortable,  // the transaction must be aborted (AbortTransaction), then may be redone
  kFenced,     // another producer with the same transactional.id took over: stop producing
  kFatal,      // the producer is unusable: destroy it (and make a new one if still wanted)
};
struct TxnError {
  TxnErrorKind kind = TxnErrorKind::kFatal;
  std::string message;
};
using TxnStatus = tl::expected<void, TxnError>;

// A Producer whose messages are written in transactions (exactly-once firing, docs/
// architecture.md). Produce is only valid between BeginTransaction and Commit/Abort; the
// messages of a transaction become visible to read_committed consumers at once on commit,
// and never if it aborts. InitTransactions with a transactional.id fences every earlier
// producer with the same id and aborts its open transaction. Not thread-safe: one thread
// owns it. The blocking calls wait at most `timeout`.
class TransactionalProducer : public Producer {
 public:
  [[nodiscard]] virtual TxnStatus InitTransactions(std::chrono::milliseconds timeout) = 0;
  [[nodiscard]] virtual TxnStatus BeginTransaction() = 0;
  // Flushes the transaction's messages, then commits it.
  [[nodiscard]] virtual TxnStatus CommitTransaction(std::chrono::milliseconds timeout) = 0;
  [[nodiscard]] virtual TxnStatus AbortTransaction(std::chrono::milliseconds timeout) = 0;
};

struct ConsumedMessage {
  std::string topic;
  int32_t partition = 0;
  int64_t offset = 0;
  std::string key;
  std::string value;
};

// Told about partition assignment changes, on the thread that calls Consumer::Poll.
class RebalanceListener {
 public:
  virtual ~RebalanceListener() = default;
  virtual void OnAssigned(const std::vector<TopicPartition>& partitions) = 0;
  // Called before the partitions are taken away: last chance to commit them.
  virtual void OnRevoked(const std::vector<TopicPartition>& partitions) = 0;
};

// A group member. Not thread-safe: one thread owns it (the worker's poll loop).
class Consumer {
 public:
  virtual ~Consumer() = default;
  [[nodiscard]] virtual Status Subscribe(const std::vector<std::string>& topics) = 0;
  // The next message, nullopt on timeout, or a (non-fatal) error such as a broker being
  // down; the caller logs it and polls again. Keeps group membership alive: call it at
  // least every few seconds even when paused.
  [[nodiscard]] virtual Result<std::optional<ConsumedMessage>> Poll(
      std::chrono::milliseconds timeout) = 0;
  // Commits the given next-offsets synchronously.
  [[nodiscard]] virtual Status Commit(const std::vector<TopicPartition>& offsets) = 0;
  [[nodiscard]] virtual Status Pause(const std::vector<TopicPartition>& partitions) = 0;
  [[nodiscard]] virtual Status Resume(const std::vector<TopicPartition>& partitions) = 0;
  // Moves the read position of an assigned partition (e.g. back to a held message).
  [[nodiscard]] virtual Status Seek(const TopicPartition& position) = 0;
  virtual std::vector<TopicPartition> Assignment() = 0;
  // Leaves the group cleanly (revokes, so the listener can commit). Idempotent.
  virtual void Close() = 0;
};

struct TopicSpec {
  std::string name;
  int partitions = 2;
  int replication_factor = 1;
  std::map<std::string, std::string> configs;
};

enum class EnsureOutcome { kCreated, kExisted };
struct EnsureReport {
  std::string topic;
  EnsureOutcome outcome = EnsureOutcome::kExisted;
  int partitions = 0;
};

class Admin {
 public:
  virtual ~Admin() = default;
  // Creates missing topics; existing ones are fine. A topic whose partition count differs
  // from the spec is an error naming both counts (krond never changes partitions itself).
  [[nodiscard]] virtual Result<std::vector<EnsureReport>> EnsureTopics(
      const std::vector<TopicSpec>& specs, std::chrono::milliseconds timeout) = 0;
  // Partition count of a topic, or an error if it does not exist.
  [[nodiscard]] virtual Result<int> PartitionCount(const std::string& topic,
                                                   std::chrono::milliseconds timeout) = 0;
};

}  // namespace krond::kafka
