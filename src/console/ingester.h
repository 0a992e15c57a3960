#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "common/clock.h"
#include "console/cluster_stats.h"
#include "console/console_metrics.h"
#include "console/events.h"
#include "kafka/kafka.h"
#include "messages/topics.h"
#include "store/history_store.h"

namespace krond::console {

// Reads the control-plane topics into the history store (docs/console.md): the catalog,
// the control topic, results, and every cluster's task, retry and dead-letter topics (found
// by a regex subscription, so new clusters are picked up). A batch is written in one
// transaction, then its offsets are committed; records read twice (after a crash between
// the two) change nothing, since the store keys them by position. Results and control
// changes are also published as events and counted in the cluster stats.
//
// The consumer's group should be unique to the database (e.g. derived from
// HistoryStore::database_id()), so a new database reads the topics from their start.
// Not thread-safe: one thread calls Step.
class Ingester {
 public:
  Ingester(kafka::Consumer& consumer, store::HistoryStore& store, EventHub& events,
           ClusterStats& stats, ConsoleMetrics& metrics, const Clock& clock,
           messages::TopicNames topics, size_t max_batch = 5000);

  // The subscription: every control-plane topic of the prefix.
  static std::string TopicPattern(const messages::TopicNames& topics);
  [[nodiscard]] Status Start();
  // Reads up to max_batch records (waiting at most `wait` for the first, then only for what
  // is already fetched), writes them, commits. Returns how many records were read; a batch
  // the store failed to write is kept and written first by the next Step.
  size_t Step(std::chrono::milliseconds wait);
  // Records read and not yet written (a failed batch).
  size_t pending() const { return batch_.size(); }

 private:
  enum class Kind { kNone, kResult, kTask, kRetry, kDead, kCatalog, kControl };
  Kind KindOf(const std::string& topic) const;
  void Decode(const kafka::ConsumedMessage& m);

  kafka::Consumer& consumer_;
  store::HistoryStore& store_;
  EventHub& events_;
  ClusterStats& stats_;
  ConsoleMetrics& metrics_;
  const Clock& clock_;
  const messages::TopicNames topics_;
  const size_t max_batch_;
  std::vector<store::Record> batch_;
  std::vector<Event> batch_events_;
  std::vector<kafka::TopicPartition> batch_offsets_;  // next offset per partition
};

}  // namespace krond::console
