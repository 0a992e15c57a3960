#pragma once

#include <chrono>
#include <functional>
#include <stop_token>
#include <string>

#include "common/result.h"
#include "control/run_gate.h"
#include "kafka/kafka.h"

namespace krond::control {

// Keeps a RunGate current from a consumer of its topics. The consumer has a group of its own
// (one per process: the worker's is TopicNames::WorkerControlGroup) and never commits, so it
// reads both topics from the beginning (auto.offset.reset=earliest) at every start, then
// follows them. Not thread-safe: one thread calls Start, Poll and Run (the worker gives it a
// thread of its own); the gate may be read meanwhile from any thread.
class ControlFollower {
 public:
  // Called once per failed poll (e.g. to count it in a metric). Default: none.
  using ErrorHook = std::function<void()>;
  // `consumer` and `gate` are not owned and must outlive the follower.
  ControlFollower(kafka::Consumer& consumer, RunGate& gate, ErrorHook on_error = {});

  // Subscribes the consumer to the gate's topics. Requires: the consumer reports partition
  // ends (kafka::ConsumerOptions::report_ends), or the gate never becomes ready.
  [[nodiscard]] Status Start();
  // Applies the records that have arrived, at most kMaxBatch, waiting at most `timeout` for
  // the first; returns how many it applied (undecodable records are logged and not counted).
  // A failed poll is counted, and logged once per distinct error until a poll succeeds.
  // Marks the gate ready (and logs it, once) when partitions of both topics are assigned and
  // the end of each was reached (kafka::Consumer::AtEnd).
  size_t Poll(std::chrono::milliseconds timeout);
  // Bounds a Poll, so that Run sees a stop while a large catalog is being read.
  static constexpr size_t kMaxBatch = 1000;
  // Polls (waiting at most `poll_timeout` each time) until `stop` is requested, then closes
  // the consumer, leaving its group. Requires: Start succeeded.
  void Run(std::stop_token stop,
           std::chrono::milliseconds poll_timeout = std::chrono::milliseconds(100));

 private:
  // Whether the assignment covers both topics and every assigned partition was read to its end.
  bool CaughtUp();

  kafka::Consumer& consumer_;
  RunGate& gate_;
  ErrorHook on_error_;
  std::string last_error_;  // the last poll error logged, "" after a successful poll
};

}  // namespace krond::control
