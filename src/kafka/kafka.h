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

// Why Kafka refused a client: it could not authenticate (wrong or missing credentials, a
// broker certificate it does not trust), or it lacks an ACL for what it asked
// (docs/security.md).
enum class Refusal { kAuthentication, kAuthorization };
// "authentication" | "authorization", for logs and metric labels.
std::string_view RefusalName(Refusal refusal);
// Told of each refusal; called from librdkafka's threads, so thread-safe and quick.
using RefusalHook = std::function<void(Refusal)>;

// Settings shared by every client. Plain struct; see Validate(). Every client krond makes
// (producers, consumers, the admin client, topic readers) is built from one of these by one
// function in rdkafka_client.cc, so a setting given once applies to all of them.
struct ClientConfig {
  // Comma-separated host:port list. Requires: non-empty.
  std::string brokers;
  // Shown in broker logs and metrics. Default: "krond".
  std::string client_id = "krond";
  // The user's librdkafka properties (CONFIGURATION.md names; security.protocol, sasl.*,
  // ssl.*, tuning), references already resolved (client_settings.h), applied after krond's
  // own. Requires: none weakens a guarantee (CheckGuarantees).
  std::map<std::string, std::string> overrides;
  // Where each override came from ("FILE:LINE", "--kafka-setting"), for messages. Optional.
  std::map<std::string, std::string> origins;
  // Told when Kafka refuses any client made from this config. Default: none.
  RefusalHook on_refused;
  [[nodiscard]] Status Validate() const;
};

struct TopicPartition {
  TopicPartition() = default;
  // Not an aggregate, so {topic, partition, offset} needs no metadata initializer.
  TopicPartition(std::string topic_name, int32_t partition_id, int64_t position = -1,
                 std::string commit_metadata = {})
      : topic(std::move(topic_name)),
        partition(partition_id),
        offset(position),
        metadata(std::move(commit_metadata)) {}

  std::string topic;
  int32_t partition = 0;
  // Next offset to read (for Commit) or a position; -1 when unknown.
  int64_t offset = -1;
  // Offset commits only: a string stored with the committed offset and read back by
  // Consumer::Committed (the worker records which runs it started, docs/messages.md).
  // Requires: at most kMaxCommitMetadataBytes.
  std::string metadata;
  bool operator==(const TopicPartition&) const = default;
};

// The broker refuses a commit whose metadata is longer than its offset.metadata.max.bytes
// (4096 by default), failing the whole commit: callers keep theirs under this.
inline constexpr size_t kMaxCommitMetadataBytes = 4000;

// The partition of a message with partition key `key` among `partitions`: the Java client's
// default partitioner, toPositive(murmur2(key)) % partitions, so any Kafka client can tell
// where a key goes. krond routes every run of a job by its job name with it (docs/
// messages.md, "Partitions"); changing the function would move every job to another
// partition, and during a rolling upgrade two workers could run one job at once, so it must
// never change. Requires: partitions >= 1.
int32_t PartitionForKey(std::string_view key, int32_t partitions);
// Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2), as a signed 32-bit value.
int32_t Murmur2(std::string_view data);

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
  // default std::string_view) is written as a null value: a tombstone on a compacted topic.
  // Fails when the local queue is full (kRetriable: call Poll, then try again), the record is
  // too large, or the topic is unknown to the client. `on_delivery` runs exactly once, from Poll or
  // Flush, when the broker acknowledged (acks=all) or the message failed for good.
  //
  // The partition is PartitionForKey(partition_key, the topic's partition count, from the
  // client's metadata) when `partition_key` is not empty, so messages with one partition key
  // land on one partition whatever their keys; else the client's default partitioner
  // chooses from `key`.
  [[nodiscard]] virtual ProduceStatus ProduceRouted(std::string_view topic,
                                                    std::string_view partition_key,
                                                    std::string_view key, std::string_view value,
                                                    DeliveryCallback on_delivery) = 0;
  // ProduceRouted without a partition key.
  [[nodiscard]] ProduceStatus Produce(std::string_view topic, std::string_view key,
                                      std::string_view value, DeliveryCallback on_delivery) {
    return ProduceRouted(topic, {}, key, value, std::move(on_delivery));
  }
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
  // Looks up the partitions of `topics` now. librdkafka learns a topic's metadata on first
  // use from a scan that runs once a second, so without this the first transaction of a new
  // producer waits up to a second per batch of new topics: a takeover's. Does not fence.
  [[nodiscard]] virtual Status WarmUp(const std::vector<std::string>& topics,
                                      std::chrono::milliseconds timeout) = 0;
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
  // The record's timestamp (ms since the epoch; the producer's clock unless the topic uses
  // LogAppendTime); -1 when unknown.
  int64_t timestamp_ms = -1;
  // Whether timestamp_ms is the broker's append time (the topic uses LogAppendTime) rather
  // than the producer's.
  bool log_append_time = false;
};

// Told about partition assignment changes, on the thread that calls Consumer::Poll.
class RebalanceListener {
 public:
  virtual ~RebalanceListener() = default;
  virtual void OnAssigned(const std::vector<TopicPartition>& partitions) = 0;
  // Called before the partitions are taken away: last chance to commit them. The group
  // waits for this to return (up to the rebalance timeout, max.poll.interval.ms) before
  // another member gets them, so work on them can be finished or stopped here.
  virtual void OnRevoked(const std::vector<TopicPartition>& partitions) = 0;
  // The partitions were lost rather than handed over (this member's session expired, e.g.
  // it was cut off from the group coordinator): another member may own them already, and
  // committing for them fails. Default: OnRevoked.
  virtual void OnLost(const std::vector<TopicPartition>& partitions) { OnRevoked(partitions); }
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
  // Commits the given next-offsets, each with its metadata.
  [[nodiscard]] virtual Status Commit(const std::vector<TopicPartition>& offsets) = 0;
  // The committed offset (-1 when none) and metadata of each partition, from the group
  // coordinator; waits up to `timeout`. May be called from a RebalanceListener.
  [[nodiscard]] virtual Result<std::vector<TopicPartition>> Committed(
      const std::vector<TopicPartition>& partitions, std::chrono::milliseconds timeout) = 0;
  [[nodiscard]] virtual Status Pause(const std::vector<TopicPartition>& partitions) = 0;
  [[nodiscard]] virtual Status Resume(const std::vector<TopicPartition>& partitions) = 0;
  // Moves the read position of an assigned partition (e.g. back to a held message).
  [[nodiscard]] virtual Status Seek(const TopicPartition& position) = 0;
  virtual std::vector<TopicPartition> Assignment() = 0;
  // Whether something is assigned and the end of every assigned partition (as the isolation
  // level sees it: read_committed, its last stable offset) was reached since it was assigned:
  // every record written before the assignment has been returned. Only a consumer made to
  // report ends (rdkafka_client.h, ConsumerOptions::report_ends) ever returns true.
  virtual bool AtEnd() = 0;
  // Leaves the group cleanly (revokes, so the listener can commit). Idempotent. Waits for
  // the group coordinator at most 3 s: with Kafka unreachable it returns, and the group
  // expires the member after its session timeout.
  virtual void Close() = 0;
};

// Follows one partition, without joining a group, from a position chosen at creation (e.g.
// a few records before its end), read_committed: only committed transactional records are
// returned. Not thread-safe.
class PartitionFollower {
 public:
  virtual ~PartitionFollower() = default;
  // The next record, nullopt when none arrived within `timeout`, or a transient error (a
  // broker down) that the caller logs before polling again.
  [[nodiscard]] virtual Result<std::optional<ConsumedMessage>> Poll(
      std::chrono::milliseconds timeout) = 0;
  // Whether the last Poll found the end of the partition (as read_committed sees it): no
  // record is waiting. False until the end was reached once.
  virtual bool AtEnd() const = 0;
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

// One ACL of Kafka's authorizer: `principal` (e.g. "User:krond-worker") is allowed
// `operation` on the resource named exactly `name` (a literal pattern; with `prefixed`, every
// resource whose name starts with `name`), from any host. krond only
// ever creates ALLOW bindings: with allow.everyone.if.no.acl.found=false, whatever is not allowed
// is denied.
struct AclBinding {
  enum class Resource { kTopic, kGroup, kTransactionalId };
  enum class Operation { kRead, kWrite, kCreate, kDescribe };
  Resource resource = Resource::kTopic;
  std::string name;
  std::string principal;
  Operation operation = Operation::kRead;
  bool prefixed = false;
  bool operator==(const AclBinding&) const = default;
  auto operator<=>(const AclBinding&) const = default;
};
// Kafka's names, as kafka-acls.sh prints them: "Topic", "Group", "TransactionalId"; "Read",
// "Write", "Create", "Describe".
std::string_view ResourceName(AclBinding::Resource resource);
std::string_view OperationName(AclBinding::Operation operation);
// Why topics could not be ensured, after librdkafka's error codes: only kUnreachable can pass
// by itself, so it is the only kind worth retrying.
enum class TopicErrorKind {
  // No answer, a timeout, no controller, or fewer live brokers than the replication factor
  // (a cluster restarting): try again later.
  kUnreachable,
  // The topic exists with another partition count: an operator must change --partitions or
  // migrate the topic (krond never changes partitions itself).
  kPartitionMismatch,
  // The cluster refused the request for good: authorization, invalid config, policy.
  kRejected,
  // The caller stopped waiting (EnsureTopicsPatiently).
  kCancelled,
};
// "unreachable", "partition_mismatch", "rejected", "cancelled".
std::string_view TopicErrorName(TopicErrorKind kind);
struct TopicError {
  TopicErrorKind kind = TopicErrorKind::kUnreachable;
  std::string message;
};
using EnsureResult = tl::expected<std::vector<EnsureReport>, TopicError>;

class Admin {
 public:
  virtual ~Admin() = default;
  // Creates missing topics; existing ones are fine. A topic whose partition count differs
  // from the spec is a kPartitionMismatch naming both counts.
  [[nodiscard]] virtual EnsureResult EnsureTopics(const std::vector<TopicSpec>& specs,
                                                  std::chrono::milliseconds timeout) = 0;
  // Partition count of a topic, or an error if it does not exist.
  [[nodiscard]] virtual Result<int> PartitionCount(const std::string& topic,
                                                   std::chrono::milliseconds timeout) = 0;
  // Creates the bindings (existing ones are fine: Kafka treats a duplicate as created) and
  // returns those it could not even send: librdkafka 2.0.2 (Debian bookworm) has no
  // TransactionalId resource type, so those are left to kafka-acls.sh. Needs ALTER on the
  // cluster (a super user, or an ACL admin). The error names each binding the broker
  // refused and why.
  [[nodiscard]] virtual Result<std::vector<AclBinding>> CreateAcls(
      const std::vector<AclBinding>& bindings, std::chrono::milliseconds timeout) = 0;
};

// How EnsureTopicsPatiently waits `delay` between attempts; returns false when the caller
// wants to stop (e.g. SIGTERM), true to try again.
using RetryWait = std::function<bool(std::chrono::milliseconds delay)>;

// The one retry loop for topic creation: calls admin.EnsureTopics (each attempt bounded by
// `attempt_timeout`) until it succeeds or fails with a kind other than kUnreachable, logging
// one warning per failed attempt and waiting `delay` in between. Returns kCancelled when
// `wait` says stop.
[[nodiscard]] EnsureResult EnsureTopicsPatiently(Admin& admin, const std::vector<TopicSpec>& specs,
                                                 const RetryWait& wait,
                                                 std::chrono::milliseconds attempt_timeout,
                                                 std::chrono::milliseconds delay);

}  // namespace krond::kafka
