#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "common/clock.h"
#include "common/result.h"
#include "kafka/kafka.h"
#include "worker/worker_metrics.h"

namespace krond::worker {

struct ClockProbeOptions {
  // The clock topic (messages::TopicNames::Clock()): one partition, created with
  // message.timestamp.type=LogAppendTime so that every record carries the broker's time.
  // Requires: non-empty.
  std::string topic;
  // Tells this worker's probe records from those of the other workers sharing the topic
  // (e.g. the worker's client id). Requires: non-empty.
  std::string probe_id;
  // Time between rounds, from the end of one to the start of the next; 0 turns the probe
  // off (Start does nothing). Default: 30 s. Requires: >= 0.
  std::chrono::milliseconds interval{30'000};
  // Probes per round, one after another; the one with the shortest round trip is kept (it
  // has the least room for an asymmetric delay). Default: 5. Requires: 1..100.
  int samples = 5;
  // Longest wait for one probe to be read back, and for the follower to reach the end of
  // the topic before the first. Default: 5 s. Requires: > 0.
  std::chrono::milliseconds sample_timeout{5'000};

  [[nodiscard]] Status Validate() const;
};

// One estimate of this host's clock against the broker's.
struct ClockOffset {
  // This host's wall clock minus the broker's: positive when this host is ahead.
  std::chrono::microseconds offset{0};
  // Produce to read back, on the monotonic clock.
  std::chrono::microseconds round_trip{0};
  // The true offset lies within offset ± uncertainty(), plus 1 ms for the millisecond
  // resolution of both the record timestamp and Clock::Now().
  std::chrono::microseconds uncertainty() const { return round_trip / 2; }
};

// Estimates this worker's clock offset from the Kafka broker's with round trips through the
// clock topic, and exports it in WorkerMetrics (clock_offset, clock_offset_uncertainty,
// clock_probe_rounds). A probe is a record produced at local wall time `send` and read back
// `round_trip` later by a follower of the topic; the broker stamped it with its LogAppendTime
// `broker` in between, so offset = send + round_trip / 2 - broker, with an error of at most
// round_trip / 2 (exact when both legs take as long).
//
// The producer and the follower are its own: it polls the producer (running its delivery
// callbacks) and reads the follower from its thread. The follower must start at the end of
// the topic (earlier records are skipped: they are older probes, or other workers').
// Thread safety: Start and Stop from one thread; RunOnce from one thread at a time, and not
// while the thread runs.
class ClockProbe {
 public:
  ClockProbe(const Clock& clock, kafka::Producer& producer, kafka::PartitionFollower& follower,
             WorkerMetrics& metrics, ClockProbeOptions options);
  ~ClockProbe();
  ClockProbe(const ClockProbe&) = delete;
  ClockProbe& operator=(const ClockProbe&) = delete;

  // Starts the thread: a round at once, then one every interval. No-op when the interval is
  // 0.
  void Start();
  // Stops the thread: a round in progress gives up within 100 ms. Idempotent.
  void Stop();

  // One round on the caller's thread: catch up with the topic, then `samples` probes; the
  // best sample's offset, or why no sample succeeded (a produce error, a refusal, a probe
  // not read back in time, a topic without LogAppendTime). Updates the metrics; logs the
  // first failure after a success and the first success after failures.
  [[nodiscard]] Result<ClockOffset> RunOnce();

 private:
  Result<ClockOffset> Round();
  Status CatchUp();
  Result<ClockOffset> Sample();
  bool stopping() const;
  void Loop();

  const Clock& clock_;
  kafka::Producer& producer_;
  kafka::PartitionFollower& follower_;
  WorkerMetrics& metrics_;
  const ClockProbeOptions options_;
  uint64_t sequence_ = 0;
  bool failing_ = false;
  bool offset_warned_ = false;
  bool first_ = true;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;  // guarded by mu_
  std::thread thread_;
};

}  // namespace krond::worker
