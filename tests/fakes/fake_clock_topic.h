#pragma once

#include <algorithm>
#include <chrono>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fakes/simulated_clock.h"
#include "kafka/kafka.h"

namespace krond::testing {

// A one-partition topic with LogAppendTime on a "broker" whose clock differs from the test's
// SimulatedClock (the worker's) by a set offset, for worker::ClockProbe. Each record produced
// reaches the broker `to_broker` after the Produce call (stamped then with the broker's time)
// and the follower `back` after that; a follower poll that waits for it advances the clock to
// that instant, and one that finds nothing lets its timeout pass, so a test runs in simulated
// time. Knobs drop probes (never written), refuse writes (the delivery fails), turn
// LogAppendTime off, and add other workers' records.
//
// Not thread-safe: one thread uses the producer and the follower (the probe's).
class FakeClockTopic {
 public:
  explicit FakeClockTopic(SimulatedClock& clock)
      : clock_(clock), producer_(*this), follower_(*this) {}

  kafka::Producer& producer() { return producer_; }
  kafka::PartitionFollower& follower() { return follower_; }

  // The worker's clock minus the broker's (positive: the worker is ahead).
  void SetWorkerAhead(std::chrono::milliseconds offset) { worker_ahead_ = offset; }
  // One-way delays of every probe without queued delays. Default: 1 ms each.
  void SetDelays(std::chrono::milliseconds to_broker, std::chrono::milliseconds back) {
    default_delays_ = {to_broker, back};
  }
  // Delays of the next probes, in order (then the defaults again).
  void QueueDelays(std::chrono::milliseconds to_broker, std::chrono::milliseconds back) {
    queued_delays_.push_back({to_broker, back});
  }
  // After `after` more probes, the next `n` are acknowledged but never appear on the topic.
  void DropNextProbes(int n, int after = 0) {
    drop_ = n;
    drop_after_ = after;
  }
  // Every delivery fails with `kind` (an ACL refusal, say); nullopt: deliveries succeed.
  void RefuseWrites(std::optional<kafka::ProduceErrorKind> kind) { refuse_ = kind; }
  // false: records carry the producer's CreateTime, as on a topic created without
  // message.timestamp.type=LogAppendTime.
  void SetLogAppendTime(bool on) { log_append_time_ = on; }
  // The next `n` follower polls fail (a broker down) without waiting.
  void FailNextPolls(int n) { fail_polls_ = n; }
  // Another worker's record, on the topic now.
  void AppendForeign(std::string key) {
    Append(std::move(key), clock_.MonoNow(), clock_.Now() - worker_ahead_, clock_.Now());
  }

  int produced() const { return produced_; }

 private:
  struct Entry {
    std::string key;
    MonoTime visible_at;
    int64_t timestamp_ms;
  };
  struct Delays {
    std::chrono::milliseconds to_broker{1};
    std::chrono::milliseconds back{1};
  };

  class Producer final : public kafka::Producer {
   public:
    explicit Producer(FakeClockTopic& topic) : topic_(topic) {}
    kafka::ProduceStatus ProduceRouted(std::string_view topic, std::string_view,
                                       std::string_view key, std::string_view,
                                       kafka::DeliveryCallback on_delivery) override {
      FakeClockTopic& t = topic_;
      ++t.produced_;
      Delays d = t.default_delays_;
      if (!t.queued_delays_.empty()) {
        d = t.queued_delays_.front();
        t.queued_delays_.pop_front();
      }
      kafka::DeliveryReport report;
      report.topic = std::string(topic);
      report.partition = 0;
      if (t.refuse_) {
        report.status = tl::unexpected(kafka::ProduceError{*t.refuse_, "fake: refused"});
      } else if (t.drop_ > 0 && t.drop_after_ == 0) {
        --t.drop_;
      } else {
        if (t.drop_after_ > 0) --t.drop_after_;
        const SystemTime created = t.clock_.Now();
        const SystemTime appended = created + d.to_broker - t.worker_ahead_;
        t.Append(std::string(key), t.clock_.MonoNow() + d.to_broker + d.back, appended, created);
      }
      pending_.push_back({std::move(on_delivery), std::move(report)});
      return {};
    }
    void Poll(std::chrono::milliseconds) override { Deliver(); }
    Status Flush(std::chrono::milliseconds) override {
      Deliver();
      return {};
    }
    int InFlight() const override { return static_cast<int>(pending_.size()); }

   private:
    void Deliver() {
      auto batch = std::move(pending_);
      pending_.clear();
      for (auto& [callback, report] : batch) {
        if (callback) callback(report);
      }
    }
    FakeClockTopic& topic_;
    std::vector<std::pair<kafka::DeliveryCallback, kafka::DeliveryReport>> pending_;
  };

  class Follower final : public kafka::PartitionFollower {
   public:
    explicit Follower(FakeClockTopic& topic) : topic_(topic) {}
    Result<std::optional<kafka::ConsumedMessage>> Poll(std::chrono::milliseconds timeout) override {
      FakeClockTopic& t = topic_;
      if (t.fail_polls_ > 0) {
        --t.fail_polls_;
        return MakeError("fake: broker down");
      }
      const MonoTime now = t.clock_.MonoNow();
      if (next_ < t.log_.size() && t.log_[next_].visible_at <= now + timeout) {
        const Entry& e = t.log_[next_];
        if (e.visible_at > now) {
          t.clock_.Advance(
              std::chrono::duration_cast<std::chrono::milliseconds>(e.visible_at - now));
        }
        kafka::ConsumedMessage m;
        m.topic = "clock";
        m.offset = static_cast<int64_t>(next_++);
        m.key = e.key;
        m.timestamp_ms = e.timestamp_ms;
        m.log_append_time = t.log_append_time_;
        at_end_ = false;
        return std::optional<kafka::ConsumedMessage>(std::move(m));
      }
      at_end_ = true;
      t.clock_.Advance(timeout);
      return std::optional<kafka::ConsumedMessage>();
    }
    bool AtEnd() const override { return at_end_; }

   private:
    FakeClockTopic& topic_;
    size_t next_ = 0;
    bool at_end_ = false;
  };

  void Append(std::string key, MonoTime visible_at, SystemTime appended, SystemTime created) {
    const SystemTime stamp = log_append_time_ ? appended : created;
    // One partition: a record is read no earlier than the one before it.
    if (!log_.empty()) visible_at = std::max(visible_at, log_.back().visible_at);
    log_.push_back({std::move(key), visible_at, stamp.time_since_epoch().count()});
  }

  SimulatedClock& clock_;
  std::chrono::milliseconds worker_ahead_{0};
  Delays default_delays_;
  std::deque<Delays> queued_delays_;
  int drop_ = 0;
  int drop_after_ = 0;
  int fail_polls_ = 0;
  std::optional<kafka::ProduceErrorKind> refuse_;
  bool log_append_time_ = true;
  int produced_ = 0;
  std::vector<Entry> log_;
  Producer producer_;
  Follower follower_;
};

}  // namespace krond::testing
