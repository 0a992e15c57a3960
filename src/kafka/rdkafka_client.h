#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
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
  // librdkafka's message.timeout.ms: how long a record may wait for the broker before its
  // delivery fails. 0 (the default) waits forever, which is what every producer of runs
  // needs; only a caller that answers a person within a bound (the console's API) sets it.
  // Not a user setting: users may not weaken it (client_settings.h).
  std::chrono::milliseconds message_timeout{0};
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
  // Logs assignments and revocations at debug rather than info: for a follower in a group of
  // its own, whose one assignment at every start says nothing. Lost partitions are still
  // warnings. Default: false.
  bool quiet_rebalances = false;
  // librdkafka's enable.partition.eof: the consumer notes when it reaches the end of each
  // partition, for Consumer::AtEnd (a follower that must know it has read what was written
  // before it started). Default: false (AtEnd is always false).
  bool report_ends = false;
};

// Whether librdkafka accepts every property of `config` (an unknown or mistyped name, an
// invalid value) and none weakens a guarantee, without connecting: for a clear error at
// start-up. Messages name the property and where it came from, never its value.
[[nodiscard]] Status CheckClientConfig(const ClientConfig& config);
// How krond treats a produce or delivery error of librdkafka (an rd_kafka_resp_err_t, as an
// int so that this header does not need librdkafka's): only codes that fail the same way
// for the same record every time are permanent; anything else (broker down, leader moving,
// queue full, timeouts) is kRetriable.
ProduceErrorKind ClassifyProduceError(int rdkafka_code);

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

struct ScanOptions {
  // Start each partition at the first record with a timestamp at or after this instant
  // (Kafka's offsets-for-times); unset: from the beginning.
  std::optional<SystemTime> since;
  // Longest the whole scan may take. Default: 30 s.
  std::chrono::milliseconds timeout{30'000};
  // When set, asked between steps: once it returns true the scan ends with an error within
  // about half a second, also while Kafka does not answer (a process stopping must not wait
  // out `timeout`). Default: none.
  std::function<bool()> stopped;
};

// Calls `on_message` for every record of `topic` present when called (up to each
// partition's last stable offset), read_committed, without joining a group; partitions are
// read concurrently, so records of different partitions interleave. `on_message` returns
// false to stop early (an error). For the scheduler's state restore, `krond audit` and
// operator commands. Memory: one record at a time.
[[nodiscard]] Status ScanTopic(const ClientConfig& config, const std::string& topic,
                               const ScanOptions& options,
                               const std::function<bool(const ConsumedMessage&)>& on_message);

// ScanTopic from the beginning, collected: for small topics such as a dead-letter topic.
[[nodiscard]] Result<std::vector<ConsumedMessage>> ReadTopicSnapshot(
    const ClientConfig& config, const std::string& topic, std::chrono::milliseconds timeout);

// A PartitionFollower of `topic`'s `partition`, starting `tail` records before its end (or
// at its beginning when it holds fewer).
[[nodiscard]] Result<std::unique_ptr<PartitionFollower>> NewRdKafkaPartitionFollower(
    const ClientConfig& config, const std::string& topic, int32_t partition, int64_t tail);

}  // namespace krond::kafka
