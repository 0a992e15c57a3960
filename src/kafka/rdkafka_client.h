#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "kafka/kafka.h"

namespace krond::kafka {

// Called from librdkafka's threads for every client-level error (broker down, auth, ...);
// used to count errors in metrics. Must be thread-safe and quick.
using ErrorHook = std::function<void(const std::string& description)>;

struct ProducerOptions {
  // Transactional id for exactly-once fires (HA scheduler); empty = idempotent only.
  std::string transactional_id;
  ErrorHook on_error;
};

struct ConsumerOptions {
  std::string group_id;
  // Only committed (not aborted) transactional messages are read. Default: true.
  bool read_committed = true;
  RebalanceListener* listener = nullptr;  // not owned; may be null
  ErrorHook on_error;
  // librdkafka's max.poll.interval.ms, which is also the group's rebalance timeout: the
  // longest the owner may take between polls, or in OnRevoked, before the group drops it
  // and gives its partitions to others. Default: 300 s. Requires: > the longest OnRevoked.
  std::chrono::milliseconds max_poll_interval{300'000};
  // Static membership (KIP-345, group.instance.id): a member that comes back with the same
  // id within session.timeout.ms gets its partitions back without a rebalance, and one that
  // stops does not leave the group (its partitions wait out the session timeout). Requires:
  // unique in the group (a second member with the id fences the first). Default: "" =
  // dynamic membership.
  std::string group_instance_id;
};

// Producers are idempotent with acks=all, retry forever (message.timeout.ms=0: a run is
// never dropped because a broker was down) and linger.ms=1 (fires are latency-sensitive;
// librdkafka batches what accumulates in that 1 ms or while a request is in flight).
[[nodiscard]] Result<std::unique_ptr<Producer>> NewRdKafkaProducer(const ClientConfig& config,
                                                                   ProducerOptions options);
// A transactional producer (options.transactional_id must be set); same settings as
// NewRdKafkaProducer. Call InitTransactions before the first transaction.
[[nodiscard]] Result<std::unique_ptr<TransactionalProducer>> NewRdKafkaTransactionalProducer(
    const ClientConfig& config, ProducerOptions options);
// Consumers never auto-commit: the worker commits after a run's result is durable.
[[nodiscard]] Result<std::unique_ptr<Consumer>> NewRdKafkaConsumer(const ClientConfig& config,
                                                                   ConsumerOptions options);
[[nodiscard]] Result<std::unique_ptr<Admin>> NewRdKafkaAdmin(const ClientConfig& config);

// Reads every message present in `topic` when called (up to each partition's high
// watermark), without joining a group. For operator commands such as `krond dead list`.
[[nodiscard]] Result<std::vector<ConsumedMessage>> ReadTopicSnapshot(
    const ClientConfig& config, const std::string& topic, std::chrono::milliseconds timeout);
// The same, handing each message to `visit` as it is read instead of holding them all
// (e.g. the keys of a catalog of a million jobs). A null value (a tombstone) arrives as an
// empty `value`.
[[nodiscard]] Status VisitTopicSnapshot(const ClientConfig& config, const std::string& topic,
                                        std::chrono::milliseconds timeout,
                                        const std::function<void(ConsumedMessage&&)>& visit);

}  // namespace krond::kafka
