#pragma once

#include <algorithm>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <ostream>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fakes/simulated_clock.h"
#include "kafka/kafka.h"

namespace krond::kafka {
// Lets gtest print partitions in failure messages, e.g. "test.tasks.alpha[0]@3".
inline void PrintTo(const TopicPartition& tp, std::ostream* os) {
  *os << tp.topic << "[" << tp.partition << "]@" << tp.offset;
}
}  // namespace krond::kafka

// In-memory Producer and Consumer for unit tests: no broker, no threads, no real time.
namespace krond::testing {

// A Producer that keeps every accepted message in memory. Delivery callbacks are queued by
// Produce and run on Poll or Flush (as librdkafka does), so a test decides when the
// "broker" acknowledges. Knobs fail the next N Produce calls (local queue full) or the next
// N deliveries (message not written), or hold deliveries altogether (broker unreachable).
//
// Produce is thread-safe; callbacks run on the thread that calls Poll or Flush, outside
// the fake's lock, so they may call Produce.
class FakeProducer final : public kafka::Producer {
 public:
  enum class State { kInFlight, kAcked, kFailed };
  struct Record {
    std::string topic;
    std::string key;
    std::string value;  // empty when keep_values(false)
    State state = State::kInFlight;
    // Counted per topic (across its partitions), in acknowledgement order.
    int64_t offset = -1;
    std::string partition_key;
    // kafka::PartitionForKey(partition_key) when the topic has SetPartitions and a partition
    // key was given; else 0.
    int32_t partition = 0;
  };

  kafka::ProduceStatus ProduceRouted(std::string_view topic, std::string_view partition_key,
                                     std::string_view key, std::string_view value,
                                     kafka::DeliveryCallback on_delivery) override {
    std::lock_guard lock(mu_);
    ++produce_calls_;
    if (fail_produces_ > 0) {
      --fail_produces_;
      return tl::unexpected(kafka::ProduceError{
          produce_failure_kind_, produce_failure_kind_ == kafka::ProduceErrorKind::kRetriable
                                     ? "fake: Local: Queue full"
                                     : "fake: permanent produce error"});
    }
    // librdkafka checks message.max.bytes at the produce call.
    if (max_bytes_ > 0 && key.size() + value.size() > max_bytes_) {
      return tl::unexpected(kafka::ProduceError{kafka::ProduceErrorKind::kTooLarge,
                                                "fake: Broker: Message size too large"});
    }
    int32_t partition = 0;
    if (auto count = partitions_.find(std::string(topic));
        count != partitions_.end() && !partition_key.empty()) {
      partition = kafka::PartitionForKey(partition_key, count->second);
    }
    records_.push_back(Record{std::string(topic), std::string(key),
                              keep_values_ ? std::string(value) : std::string(), State::kInFlight,
                              -1, std::string(partition_key), partition});
    queue_.push_back(Pending{records_.size() - 1, std::move(on_delivery)});
    return {};
  }

  // Runs every queued delivery callback unless deliveries are held. With a clock attached
  // (AdvanceClockOnIdlePoll), a Poll that delivers nothing lets `timeout` pass, as the
  // real Poll waits that long for a report.
  void Poll(std::chrono::milliseconds timeout) override {
    if (poll_hook_) poll_hook_();
    ++polls_;
    if (Deliver() == 0 && clock_ != nullptr) clock_->Advance(timeout);
  }

  Status Flush(std::chrono::milliseconds timeout) override {
    Deliver();
    if (InFlight() > 0) {
      if (clock_ != nullptr) clock_->Advance(timeout);
      return MakeError("fake: flush timed out with " + std::to_string(InFlight()) +
                       " message(s) in flight");
    }
    return {};
  }

  int InFlight() const override {
    std::lock_guard lock(mu_);
    return static_cast<int>(queue_.size());
  }

  // ---- Knobs --------------------------------------------------------------------------
  // The next `n` Produce calls fail at once (nothing queued, no callback), with `kind`.
  void FailNextProduces(int n, kafka::ProduceErrorKind kind = kafka::ProduceErrorKind::kRetriable) {
    std::lock_guard lock(mu_);
    fail_produces_ = n;
    produce_failure_kind_ = kind;
  }
  // The next `n` deliveries report an error of `kind` to their callback.
  void FailNextDeliveries(int n,
                          kafka::ProduceErrorKind kind = kafka::ProduceErrorKind::kRetriable) {
    std::lock_guard lock(mu_);
    fail_deliveries_ = n;
    delivery_failure_kind_ = kind;
  }
  // Every delivery to `topic` fails with `kind` (e.g. kUnauthorized: an ACL refuses it, or
  // kTooLarge: the topic's max.message.bytes is smaller than the client's); nullopt clears.
  void RefuseTopic(const std::string& topic, std::optional<kafka::ProduceErrorKind> kind) {
    std::lock_guard lock(mu_);
    if (kind) {
      refused_[topic] = *kind;
    } else {
      refused_.erase(topic);
    }
  }
  // Produce fails with kTooLarge for a key and value over `bytes` (0: no limit), as
  // librdkafka's message.max.bytes check does.
  void SetMaxMessageBytes(size_t bytes) {
    std::lock_guard lock(mu_);
    max_bytes_ = bytes;
  }
  // While held, Poll and Flush run no callbacks (messages stay in flight).
  void HoldDeliveries(bool hold) {
    std::lock_guard lock(mu_);
    hold_ = hold;
  }
  // Bulk tests: do not keep message values.
  void KeepValues(bool keep) {
    std::lock_guard lock(mu_);
    keep_values_ = keep;
  }
  void AdvanceClockOnIdlePoll(SimulatedClock* clock) { clock_ = clock; }
  // Called at the start of every Poll, e.g. to act at a point of a loop under test.
  void SetPollHook(std::function<void()> hook) { poll_hook_ = std::move(hook); }
  // `topic` has `n` partitions: messages with a partition key are routed among them.
  void SetPartitions(const std::string& topic, int32_t n) {
    std::lock_guard lock(mu_);
    partitions_[topic] = n;
  }

  // ---- Inspection ---------------------------------------------------------------------
  // Every accepted message, in produce order.
  std::vector<Record> Records() const {
    std::lock_guard lock(mu_);
    return records_;
  }
  // Acknowledged messages of one topic, in offset order.
  std::vector<Record> Acked(std::string_view topic) const {
    std::lock_guard lock(mu_);
    std::vector<Record> out;
    for (const auto& r : records_) {
      if (r.topic == topic && r.state == State::kAcked) out.push_back(r);
    }
    std::sort(out.begin(), out.end(),
              [](const Record& a, const Record& b) { return a.offset < b.offset; });
    return out;
  }
  size_t AckedCount(std::string_view topic) const { return Acked(topic).size(); }
  size_t AckedTotal() const {
    std::lock_guard lock(mu_);
    return static_cast<size_t>(std::count_if(records_.begin(), records_.end(), [](const Record& r) {
      return r.state == State::kAcked;
    }));
  }
  int produce_calls() const {
    std::lock_guard lock(mu_);
    return produce_calls_;
  }
  int polls() const { return polls_; }

 private:
  struct Pending {
    size_t record;
    kafka::DeliveryCallback callback;
  };

  // Runs the queued callbacks; returns how many ran.
  size_t Deliver() {
    std::deque<Pending> batch;
    std::vector<kafka::DeliveryReport> reports;
    {
      std::lock_guard lock(mu_);
      if (hold_) return 0;
      batch.swap(queue_);
      for (const Pending& p : batch) {
        Record& r = records_[p.record];
        kafka::DeliveryReport report;
        report.topic = r.topic;
        report.partition = r.partition;
        auto refused = refused_.find(r.topic);
        if (refused != refused_.end()) {
          r.state = State::kFailed;
          report.status = tl::unexpected(kafka::ProduceError{
              refused->second,
              "fake: Broker: " + std::string(kafka::ProduceErrorName(refused->second)) + " for " +
                  r.topic});
        } else if (fail_deliveries_ > 0) {
          --fail_deliveries_;
          r.state = State::kFailed;
          report.status = tl::unexpected(kafka::ProduceError{
              delivery_failure_kind_, delivery_failure_kind_ == kafka::ProduceErrorKind::kRetriable
                                          ? "fake: Broker: Not enough in-sync replicas"
                                          : "fake: Broker: " + std::string(kafka::ProduceErrorName(
                                                                   delivery_failure_kind_))});
        } else {
          r.state = State::kAcked;
          r.offset = next_offset_[r.topic]++;
          report.offset = r.offset;
        }
        reports.push_back(std::move(report));
      }
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      if (batch[i].callback) batch[i].callback(reports[i]);
    }
    return batch.size();
  }

  mutable std::mutex mu_;
  std::vector<Record> records_;
  std::deque<Pending> queue_;
  std::map<std::string, int64_t> next_offset_;
  std::map<std::string, int32_t> partitions_;
  int produce_calls_ = 0;
  int fail_produces_ = 0;
  int fail_deliveries_ = 0;
  kafka::ProduceErrorKind produce_failure_kind_ = kafka::ProduceErrorKind::kRetriable;
  kafka::ProduceErrorKind delivery_failure_kind_ = kafka::ProduceErrorKind::kRetriable;
  std::map<std::string, kafka::ProduceErrorKind> refused_;
  size_t max_bytes_ = 0;
  bool hold_ = false;
  bool keep_values_ = true;
  int polls_ = 0;
  SimulatedClock* clock_ = nullptr;
  std::function<void()> poll_hook_;
};

// A transactional "broker" shared by FakeTransactionalProducers: the committed messages of
// every topic, and the current producer epoch (a newer InitTransactions fences older ones).
struct FakeTxnLog {
  struct Message {
    std::string topic, key, value;
    std::string partition_key;
  };
  std::vector<Message> committed;
  int epoch = 0;
  std::vector<Message> Topic(std::string_view topic) const {
    std::vector<Message> out;
    for (const auto& m : committed) {
      if (m.topic == topic) out.push_back(m);
    }
    return out;
  }
};

// A PartitionFollower over one topic of a FakeTxnLog: returns the topic's committed messages
// in commit order, starting `tail` messages before the end the log had at construction.
// A poll that finds nothing lets `timeout` pass on an attached clock. Not thread-safe.
class FakePartitionFollower final : public kafka::PartitionFollower {
 public:
  FakePartitionFollower(const FakeTxnLog& log, std::string topic, size_t tail,
                        SimulatedClock* clock = nullptr)
      : log_(log), topic_(std::move(topic)), clock_(clock) {
    const size_t present = log_.Topic(topic_).size();
    next_ = present > tail ? present - tail : 0;
  }

  Result<std::optional<kafka::ConsumedMessage>> Poll(std::chrono::milliseconds timeout) override {
    if (fail_polls_ > 0) {
      --fail_polls_;
      return MakeError("fake: broker down");
    }
    const auto messages = log_.Topic(topic_);
    if (next_ < messages.size()) {
      const auto& m = messages[next_];
      kafka::ConsumedMessage out{m.topic, 0, static_cast<int64_t>(next_), m.key, m.value};
      ++next_;
      at_end_ = false;
      return std::optional<kafka::ConsumedMessage>(std::move(out));
    }
    at_end_ = true;
    if (clock_ != nullptr) clock_->Advance(timeout);
    return std::optional<kafka::ConsumedMessage>();
  }
  bool AtEnd() const override { return at_end_; }

  void FailNextPolls(int n) { fail_polls_ = n; }

 private:
  const FakeTxnLog& log_;
  std::string topic_;
  SimulatedClock* clock_;
  size_t next_ = 0;
  int fail_polls_ = 0;
  bool at_end_ = false;
};

// A TransactionalProducer over a FakeTxnLog: messages of a transaction reach the log only
// on a successful commit, which runs their delivery callbacks (as the real commit's flush
// does). Knobs fail the next commits or inits with a given kind, or every record of a topic
// at Produce (synchronously) or at commit (its callback gets the error and the commit fails
// abortable, as librdkafka does for a permanent delivery error). With a clock attached, a
// call that fails as retriable lets its timeout pass (a real call blocks that long). Not
// thread-safe.
class FakeTransactionalProducer final : public kafka::TransactionalProducer {
 public:
  explicit FakeTransactionalProducer(FakeTxnLog& log) : log_(log) {}

  kafka::ProduceStatus ProduceRouted(std::string_view topic, std::string_view partition_key,
                                     std::string_view key, std::string_view value,
                                     kafka::DeliveryCallback on_delivery) override {
    if (!open_) {
      return tl::unexpected(kafka::ProduceError{kafka::ProduceErrorKind::kInvalid,
                                                "fake: produce outside a transaction"});
    }
    if (auto it = fail_produce_.find(std::string(topic)); it != fail_produce_.end()) {
      return tl::unexpected(kafka::ProduceError{it->second, "fake: refused at produce"});
    }
    open_messages_.push_back(
        {std::string(topic), std::string(key), std::string(value), std::string(partition_key)});
    callbacks_.push_back(std::move(on_delivery));
    return {};
  }
  void Poll(std::chrono::milliseconds) override {}
  Status Flush(std::chrono::milliseconds) override { return {}; }
  int InFlight() const override { return static_cast<int>(open_messages_.size()); }

  Status WarmUp(const std::vector<std::string>& topics, std::chrono::milliseconds) override {
    warmed_.insert(warmed_.end(), topics.begin(), topics.end());
    return {};
  }
  kafka::TxnStatus InitTransactions(std::chrono::milliseconds timeout) override {
    if (fail_inits_ > 0) {
      --fail_inits_;
      return Timeout(timeout);
    }
    epoch_ = ++log_.epoch;
    return {};
  }
  kafka::TxnStatus BeginTransaction() override {
    if (auto fenced = CheckEpoch(); !fenced) return fenced;
    open_ = true;
    return {};
  }
  kafka::TxnStatus CommitTransaction(std::chrono::milliseconds timeout) override {
    if (auto fenced = CheckEpoch(); !fenced) return fenced;
    if (!fail_commits_.empty()) {
      auto kind = fail_commits_.front();
      fail_commits_.pop_front();
      if (kind == kafka::TxnErrorKind::kRetriable) return Timeout(timeout);
      return tl::unexpected(kafka::TxnError{kind, "fake: commit failed"});
    }
    bool failed = false;
    for (size_t i = 0; i < open_messages_.size(); ++i) {
      auto it = fail_delivery_.find(open_messages_[i].topic);
      if (it == fail_delivery_.end()) continue;
      failed = true;
      kafka::DeliveryReport report;
      report.topic = open_messages_[i].topic;
      report.status = tl::unexpected(kafka::ProduceError{it->second, "fake: refused by broker"});
      if (callbacks_[i]) callbacks_[i](report);
    }
    if (failed) {
      return tl::unexpected(
          kafka::TxnError{kafka::TxnErrorKind::kAbortable, "fake: a record failed delivery"});
    }
    for (size_t i = 0; i < open_messages_.size(); ++i) {
      kafka::DeliveryReport report;
      report.topic = open_messages_[i].topic;
      report.partition = 0;
      report.offset = static_cast<int64_t>(log_.committed.size());
      log_.committed.push_back(std::move(open_messages_[i]));
      if (callbacks_[i]) callbacks_[i](report);
    }
    Clear();
    ++commits_;
    return {};
  }
  kafka::TxnStatus AbortTransaction(std::chrono::milliseconds) override {
    Clear();
    ++aborts_;
    return {};
  }

  // The next commits fail with these kinds, in order.
  void FailNextCommits(std::deque<kafka::TxnErrorKind> kinds) { fail_commits_ = std::move(kinds); }
  void FailNextInits(int n) { fail_inits_ = n; }
  void FailProducesTo(std::string topic, kafka::ProduceErrorKind kind) {
    fail_produce_[std::move(topic)] = kind;
  }
  void FailDeliveriesTo(std::string topic, kafka::ProduceErrorKind kind) {
    fail_delivery_[std::move(topic)] = kind;
  }
  void AdvanceClockOnTimeout(SimulatedClock* clock) { clock_ = clock; }
  int commits() const { return commits_; }
  int aborts() const { return aborts_; }
  bool initialized() const { return epoch_ != 0; }
  const std::vector<std::string>& warmed() const { return warmed_; }

 private:
  kafka::TxnStatus CheckEpoch() {
    if (epoch_ == 0) return tl::unexpected(kafka::TxnError{kafka::TxnErrorKind::kFatal, "no init"});
    if (epoch_ != log_.epoch) {
      return tl::unexpected(kafka::TxnError{kafka::TxnErrorKind::kFenced, "fake: fenced"});
    }
    return {};
  }
  kafka::TxnStatus Timeout(std::chrono::milliseconds timeout) {
    if (clock_ != nullptr) clock_->Advance(timeout);
    return tl::unexpected(kafka::TxnError{kafka::TxnErrorKind::kRetriable, "fake: timed out"});
  }
  void Clear() {
    open_messages_.clear();
    callbacks_.clear();
    open_ = false;
  }
  FakeTxnLog& log_;
  int epoch_ = 0;
  bool open_ = false;
  std::vector<FakeTxnLog::Message> open_messages_;
  std::vector<kafka::DeliveryCallback> callbacks_;
  std::deque<kafka::TxnErrorKind> fail_commits_;
  std::map<std::string, kafka::ProduceErrorKind> fail_produce_;
  std::map<std::string, kafka::ProduceErrorKind> fail_delivery_;
  SimulatedClock* clock_ = nullptr;
  std::vector<std::string> warmed_;
  int fail_inits_ = 0;
  int commits_ = 0;
  int aborts_ = 0;
};

// A Consumer over in-memory partitions: each partition is a log (offset = index) with a
// read position, and Poll returns the next message of an assigned, unpaused partition.
//
// Fetching is modelled as librdkafka does it: up to `prefetch` messages are fetched ahead
// into a local queue, and pausing a partition does NOT drop what was already fetched (the
// pause is asynchronous), so a consumer may still be handed a message of a partition it has
// just paused. Seek drops the fetched messages of that partition and moves its position, so
// a message already returned is returned again. Default prefetch is 1: nothing is fetched
// before the Poll that returns it.
//
// Scripted results (errors, empty polls) are returned before any message. Rebalances are
// triggered by the test (Assign/Revoke), which calls the listener on the test's thread,
// the thread that polls. Not thread-safe, like the interface.
class FakeConsumer final : public kafka::Consumer {
 public:
  struct PartitionKey {
    std::string topic;
    int32_t partition = 0;
    auto operator<=>(const PartitionKey&) const = default;
  };

  // ---- Kafka interface ------------------------------------------------------------------
  Status Subscribe(const std::vector<std::string>& topics) override {
    subscribed_ = topics;
    return {};
  }

  Result<std::optional<kafka::ConsumedMessage>> Poll(std::chrono::milliseconds timeout) override {
    ++polls_;
    if (!scripted_.empty()) {
      auto next = std::move(scripted_.front());
      scripted_.pop_front();
      return next;
    }
    Fetch();
    if (!fetched_.empty()) {
      kafka::ConsumedMessage m = std::move(fetched_.front());
      fetched_.pop_front();
      returned_.push_back(m);
      return std::optional<kafka::ConsumedMessage>(std::move(m));
    }
    if (clock_ != nullptr) clock_->Advance(timeout);
    return std::optional<kafka::ConsumedMessage>();
  }

  Status Commit(const std::vector<kafka::TopicPartition>& offsets) override {
    if (fail_commits_ > 0) {
      --fail_commits_;
      return MakeError("fake: commit failed");
    }
    commits_.push_back(offsets);
    for (const auto& tp : offsets) committed_[{tp.topic, tp.partition}] = tp;
    return {};
  }

  Result<std::vector<kafka::TopicPartition>> Committed(
      const std::vector<kafka::TopicPartition>& partitions, std::chrono::milliseconds) override {
    ++committed_reads_;
    if (fail_committed_reads_ > 0) {
      --fail_committed_reads_;
      return MakeError("fake: committed offsets: timed out");
    }
    std::vector<kafka::TopicPartition> out;
    for (const auto& tp : partitions) {
      auto it = committed_.find({tp.topic, tp.partition});
      out.push_back(it != committed_.end() ? it->second
                                           : kafka::TopicPartition{tp.topic, tp.partition, -1});
    }
    return out;
  }

  Status Pause(const std::vector<kafka::TopicPartition>& partitions) override {
    pause_calls_.push_back(partitions);
    for (const auto& tp : partitions) paused_.insert({tp.topic, tp.partition});
    return {};
  }

  Status Resume(const std::vector<kafka::TopicPartition>& partitions) override {
    resume_calls_.push_back(partitions);
    for (const auto& tp : partitions) paused_.erase({tp.topic, tp.partition});
    return {};
  }

  Status Seek(const kafka::TopicPartition& position) override {
    seeks_.push_back(position);
    const PartitionKey key{position.topic, position.partition};
    std::erase_if(fetched_, [&](const kafka::ConsumedMessage& m) {
      return m.topic == key.topic && m.partition == key.partition;
    });
    logs_[key].position = position.offset;
    return {};
  }

  std::vector<kafka::TopicPartition> Assignment() override { return assignment_; }

  // Every assigned partition's messages were all returned (a test stands for a consumer
  // made with report_ends).
  bool AtEnd() override {
    return !assignment_.empty() &&
           std::all_of(assignment_.begin(), assignment_.end(), [&](const auto& tp) {
             const PartitionKey key{tp.topic, tp.partition};
             const Log& log = logs_[key];
             const bool fetched = std::any_of(fetched_.begin(), fetched_.end(), [&](const auto& m) {
               return m.topic == key.topic && m.partition == key.partition;
             });
             return !fetched && log.position >= static_cast<int64_t>(log.messages.size());
           });
  }

  void Close() override {
    if (closed_) return;
    closed_ = true;
    if (listener_ != nullptr && !assignment_.empty()) listener_->OnRevoked(assignment_);
    assignment_.clear();
    fetched_.clear();
  }

  // ---- Test controls ------------------------------------------------------------------
  void SetListener(kafka::RebalanceListener* listener) { listener_ = listener; }

  // Appends a message to a partition's log; returns its offset.
  int64_t Append(const std::string& topic, int32_t partition, std::string key, std::string value) {
    Log& log = logs_[{topic, partition}];
    const int64_t offset = static_cast<int64_t>(log.messages.size());
    log.messages.push_back(
        kafka::ConsumedMessage{topic, partition, offset, std::move(key), std::move(value)});
    return offset;
  }

  // Adds partitions to the assignment and tells the listener. A partition starts reading
  // at its committed offset (or 0).
  void Assign(const std::vector<kafka::TopicPartition>& partitions) {
    for (const auto& tp : partitions) {
      assignment_.push_back({tp.topic, tp.partition, -1});
      auto c = committed_.find({tp.topic, tp.partition});
      logs_[{tp.topic, tp.partition}].position = c != committed_.end() ? c->second.offset : 0;
      paused_.erase({tp.topic, tp.partition});
    }
    if (listener_ != nullptr) listener_->OnAssigned(partitions);
  }

  // Tells the listener first (its last chance to commit), then takes the partitions away.
  void Revoke(const std::vector<kafka::TopicPartition>& partitions) {
    if (listener_ != nullptr) listener_->OnRevoked(partitions);
    Unassign(partitions);
  }
  // The same for partitions lost with an expired session (RebalanceListener::OnLost).
  void Lose(const std::vector<kafka::TopicPartition>& partitions) {
    if (listener_ != nullptr) listener_->OnLost(partitions);
    Unassign(partitions);
  }
  // Another member (or a test) commits for a partition, e.g. a previous owner's last commit.
  void SetCommitted(kafka::TopicPartition committed) {
    committed_[{committed.topic, committed.partition}] = std::move(committed);
  }

  // The next Poll returns this error (before any message).
  void ScriptError(std::string message) {
    scripted_.push_back(tl::unexpected<Error>(Error{std::move(message)}));
  }
  // Messages fetched ahead of Poll (see the class comment). Requires: n >= 1.
  void SetPrefetch(size_t n) { prefetch_ = n; }
  // The next `n` Commit calls fail.
  void FailNextCommits(int n) { fail_commits_ = n; }
  // The next `n` Committed calls fail.
  void FailNextCommittedReads(int n) { fail_committed_reads_ = n; }
  // An empty Poll lets its timeout pass on `clock`.
  void AdvanceClockOnIdlePoll(SimulatedClock* clock) { clock_ = clock; }

  // ---- Inspection ---------------------------------------------------------------------
  const std::vector<std::string>& subscribed() const { return subscribed_; }
  const std::vector<std::vector<kafka::TopicPartition>>& commits() const { return commits_; }
  // Last committed next-offset of a partition, or -1.
  int64_t Committed(const std::string& topic, int32_t partition) const {
    auto it = committed_.find({topic, partition});
    return it == committed_.end() ? -1 : it->second.offset;
  }
  // Metadata of the last commit of a partition ("" if none).
  std::string CommittedMetadata(const std::string& topic, int32_t partition) const {
    auto it = committed_.find({topic, partition});
    return it == committed_.end() ? "" : it->second.metadata;
  }
  int committed_reads() const { return committed_reads_; }
  bool IsPaused(const std::string& topic, int32_t partition) const {
    return paused_.count({topic, partition}) != 0;
  }
  const std::vector<std::vector<kafka::TopicPartition>>& pause_calls() const {
    return pause_calls_;
  }
  const std::vector<std::vector<kafka::TopicPartition>>& resume_calls() const {
    return resume_calls_;
  }
  const std::vector<kafka::TopicPartition>& seeks() const { return seeks_; }
  // Every message Poll returned, in order (a message returned again after a seek appears
  // twice).
  const std::vector<kafka::ConsumedMessage>& returned() const { return returned_; }
  int64_t Position(const std::string& topic, int32_t partition) const {
    auto it = logs_.find({topic, partition});
    return it == logs_.end() ? 0 : it->second.position;
  }
  bool closed() const { return closed_; }
  int polls() const { return polls_; }

 private:
  struct Log {
    std::vector<kafka::ConsumedMessage> messages;
    int64_t position = 0;  // next offset to fetch
  };

  void Unassign(const std::vector<kafka::TopicPartition>& partitions) {
    for (const auto& tp : partitions) {
      std::erase_if(assignment_, [&](const kafka::TopicPartition& a) {
        return a.topic == tp.topic && a.partition == tp.partition;
      });
      std::erase_if(fetched_, [&](const kafka::ConsumedMessage& m) {
        return m.topic == tp.topic && m.partition == tp.partition;
      });
      paused_.erase({tp.topic, tp.partition});
    }
  }

  bool Assigned(const PartitionKey& key) const {
    return std::any_of(assignment_.begin(), assignment_.end(), [&](const auto& tp) {
      return tp.topic == key.topic && tp.partition == key.partition;
    });
  }

  // Tops the fetched queue up to `prefetch_`, round-robin over assigned unpaused partitions.
  void Fetch() {
    bool progress = true;
    while (fetched_.size() < prefetch_ && progress) {
      progress = false;
      for (auto& [key, log] : logs_) {
        if (fetched_.size() >= prefetch_) break;
        if (!Assigned(key) || paused_.count(key) != 0) continue;
        if (log.position < 0 || log.position >= static_cast<int64_t>(log.messages.size())) {
          continue;
        }
        fetched_.push_back(log.messages[static_cast<size_t>(log.position)]);
        ++log.position;
        progress = true;
      }
    }
  }

  kafka::RebalanceListener* listener_ = nullptr;
  std::vector<std::string> subscribed_;
  std::map<PartitionKey, Log> logs_;
  std::vector<kafka::TopicPartition> assignment_;
  std::set<PartitionKey> paused_;
  std::deque<kafka::ConsumedMessage> fetched_;
  std::deque<Result<std::optional<kafka::ConsumedMessage>>> scripted_;
  size_t prefetch_ = 1;
  int fail_commits_ = 0;
  int fail_committed_reads_ = 0;
  int committed_reads_ = 0;
  SimulatedClock* clock_ = nullptr;

  std::vector<std::vector<kafka::TopicPartition>> commits_;
  std::map<PartitionKey, kafka::TopicPartition> committed_;
  std::vector<std::vector<kafka::TopicPartition>> pause_calls_;
  std::vector<std::vector<kafka::TopicPartition>> resume_calls_;
  std::vector<kafka::TopicPartition> seeks_;
  std::vector<kafka::ConsumedMessage> returned_;
  int polls_ = 0;
  bool closed_ = false;
};

// An Admin whose EnsureTopics answers are scripted: each call takes the next answer (the
// last one repeats). Records the timeouts it was called with. Not thread-safe.
class FakeAdmin final : public kafka::Admin {
 public:
  kafka::EnsureResult EnsureTopics(const std::vector<kafka::TopicSpec>& specs,
                                   std::chrono::milliseconds timeout) override {
    timeouts_.push_back(timeout);
    if (answers_.empty()) {
      std::vector<kafka::EnsureReport> reports;
      for (const auto& spec : specs) {
        reports.push_back({spec.name, kafka::EnsureOutcome::kCreated, spec.partitions});
      }
      return reports;
    }
    kafka::EnsureResult next = answers_.front();
    if (answers_.size() > 1) answers_.pop_front();
    return next;
  }
  Result<int> PartitionCount(const std::string&, std::chrono::milliseconds) override {
    return MakeError("fake: not scripted");
  }
  Result<std::vector<kafka::AclBinding>> CreateAcls(const std::vector<kafka::AclBinding>&,
                                                    std::chrono::milliseconds) override {
    return MakeError("fake: not scripted");
  }

  // Answers of the next calls, in order; with none, every topic is created.
  void Script(std::deque<kafka::EnsureResult> answers) { answers_ = std::move(answers); }
  // Shorthand for a failed answer.
  static kafka::EnsureResult Fail(kafka::TopicErrorKind kind, std::string message) {
    return tl::unexpected(kafka::TopicError{kind, std::move(message)});
  }
  const std::vector<std::chrono::milliseconds>& timeouts() const { return timeouts_; }

 private:
  std::deque<kafka::EnsureResult> answers_;
  std::vector<std::chrono::milliseconds> timeouts_;
};

}  // namespace krond::testing
