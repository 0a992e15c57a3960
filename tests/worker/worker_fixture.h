#pragma once

// The worker tests' fixture: a Worker on fake Kafka, a fake executor and simulated time.

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/time_format.h"
#include "fakes/captured_log.h"
#include "fakes/fake_executor.h"
#include "fakes/fake_kafka.h"
#include "fakes/simulated_clock.h"
#include "messages/run_messages.h"
#include "messages/signed_task.h"
#include "metrics/registry.h"
#include "worker/lazy_sandbox.h"
#include "worker/worker.h"

namespace krond::worker::test {

using krond::testing::FakeConsumer;
using krond::testing::FakeExecutor;
using krond::testing::FakeProducer;
using krond::testing::SimulatedClock;
using messages::Outcome;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::_;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Pair;
using ::testing::SizeIs;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;

const SystemTime kT0 = SystemTime(std::chrono::milliseconds(1'772'928'000'000));  // 2026-03-08

constexpr char kTasks[] = "test.tasks.alpha";
constexpr char kRetry[] = "test.retry.alpha";
constexpr char kDead[] = "test.dead.alpha";
constexpr char kResults[] = "test.results";

inline messages::TaskMessage WithDeadline(messages::TaskMessage t,
                                          std::chrono::milliseconds deadline) {
  t.starting_deadline = deadline;
  return t;
}

class WorkerTest : public ::testing::Test {
 protected:
  WorkerTest() { spdlog::set_level(spdlog::level::off); }
  ~WorkerTest() override { worker_.reset(); }

  Worker& MakeWorker(int slots = 1, messages::Queue queue = messages::Queue::kMain,
                     std::vector<int32_t> partitions = {0}) {
    WorkerOptions o;
    o.cluster = "alpha";
    o.queue = queue;
    o.slots = slots;
    o.worker_id = "host:1";
    o.seed = 42;
    o.max_held = max_held_;
    // One message per Step and a commit after each, so tests can check every step.
    o.max_poll_batch = max_poll_batch_;
    o.commit_interval = commit_interval_;
    o.drain_timeout = drain_timeout_;
    o.kill_grace = kill_grace_;
    o.max_timeout = hours(2);
    o.limits = limits_;
    o.max_load = max_load_;
    o.load_source = [this] { return load_; };
    o.trusted_keys = trusted_keys_;
    o.run_as = run_as_;
    o.refuse_root = refuse_root_;
    o.max_early = max_early_;
    o.max_hold_ahead = max_hold_ahead_;
    o.cancel_early = cancel_early_;
    o.gate_ready = gate_ready_;
    o.gate_wait = gate_wait_;
    topic_ = queue == messages::Queue::kMain ? kTasks : kRetry;
    worker_ = std::make_unique<Worker>(clock_, consumer_, producer_, executor_, metrics_,
                                       messages::TopicNames("test"), o, sandboxed_, microvm_);
    consumer_.SetListener(worker_.get());
    EXPECT_TRUE(worker_->Start().has_value());
    EXPECT_THAT(consumer_.subscribed(), ElementsAre(topic_));
    std::vector<kafka::TopicPartition> assign;
    for (int32_t p : partitions) assign.push_back({topic_, p, -1});
    consumer_.Assign(assign);
    return *worker_;
  }

  static messages::TaskMessage Task(const std::string& run_id, int attempt = 1,
                                    int max_attempts = 1) {
    messages::TaskMessage t;
    t.run_id = run_id;
    t.job = "backup";
    t.cluster = "alpha";
    t.command = "echo " + run_id;
    t.scheduled_at = kT0;
    t.produced_at = kT0;
    t.attempt = attempt;
    t.max_attempts = max_attempts;
    t.timeout = seconds(90);
    t.retry.backoff = seconds(2);
    t.retry.max_backoff = seconds(60);
    t.retry.multiplier = 2.0;
    t.retry.jitter = 0;
    t.retry.retry_on = {"failed"};
    return t;
  }
  int64_t Add(const messages::TaskMessage& t, int32_t partition = 0) {
    return consumer_.Append(topic_, partition, t.run_id, messages::Encode(t));
  }

  void Step() { worker_->Step(milliseconds(0)); }
  // Slot threads are real threads: step until `done` holds, failing after a real-time
  // limit rather than sleeping for a guessed duration.
  template <class Pred>
  bool StepUntil(Pred done) {
    const auto limit = std::chrono::steady_clock::now() + seconds(10);
    while (!done()) {
      if (std::chrono::steady_clock::now() > limit) return false;
      Step();
      std::this_thread::yield();
    }
    return true;
  }
  // Lets `run_id` succeed once `after` (simulated time) has passed from now, from inside
  // whatever loop polls the producer (a drain). With `returned` > 0, then waits until that
  // many runs have returned: slot threads are real, and must catch up with simulated time.
  // The flag says whether it happened.
  std::shared_ptr<bool> ReleaseAfter(const std::string& run_id, milliseconds after,
                                     size_t returned = 0) {
    auto released = std::make_shared<bool>(false);
    const MonoTime from = clock_.MonoNow();
    producer_.SetPollHook([this, released, from, after, run_id, returned] {
      if (*released || clock_.MonoNow() - from < after) return;
      *released = true;
      executor_.Release(run_id, FakeExecutor::Succeeded());
      if (returned > 0) {
        EXPECT_TRUE(executor_.WaitReturned(returned));
      }
    });
    return released;
  }
  // Releases a blocked run and steps until the worker has taken its completion.
  void Finish(const std::string& run_id, exec::RunOutcome outcome) {
    const uint64_t before = worker_->completed();
    ASSERT_TRUE(executor_.WaitBlocked(run_id)) << run_id;
    executor_.Release(run_id, std::move(outcome));
    ASSERT_TRUE(StepUntil([&] { return worker_->completed() > before; })) << run_id;
  }

  std::vector<messages::ResultMessage> Results() const {
    std::vector<messages::ResultMessage> out;
    for (const auto& r : producer_.Acked(kResults)) {
      auto m = messages::DecodeResult(r.value);
      EXPECT_TRUE(m.has_value()) << r.value;
      if (m) {
        EXPECT_EQ(r.key, m->run_id);
        out.push_back(*m);
      }
    }
    return out;
  }
  std::vector<messages::TaskMessage> RetryTasks() const {
    std::vector<messages::TaskMessage> out;
    for (const auto& r : producer_.Acked(kRetry)) {
      auto m = messages::DecodeTask(r.value);
      EXPECT_TRUE(m.has_value()) << r.value;
      if (m) out.push_back(*m);
    }
    return out;
  }
  std::vector<messages::DeadLetter> DeadLetters() const {
    std::vector<messages::DeadLetter> out;
    for (const auto& r : producer_.Acked(kDead)) {
      auto m = messages::DecodeDeadLetter(r.value);
      EXPECT_TRUE(m.has_value()) << r.value;
      if (m) out.push_back(*m);
    }
    return out;
  }
  int64_t Committed(int32_t partition = 0) const { return consumer_.Committed(topic_, partition); }
  size_t ReturnedCount(const std::string& run_id) const {
    size_t n = 0;
    for (const auto& m : consumer_.returned()) n += m.key == run_id ? 1 : 0;
    return n;
  }
  std::string Metrics() const { return registry_.Render(); }

  exec::ResourceLimits limits_;
  size_t max_held_ = 0;  // most tests check the pause itself
  size_t max_poll_batch_ = 1;
  milliseconds commit_interval_{0};
  double max_load_ = 0;
  std::optional<double> load_ = 0.0;  // what the injected load source reports
  exec::Executor* sandboxed_ = nullptr;
  exec::Executor* microvm_ = nullptr;
  milliseconds drain_timeout_{seconds(30)};
  milliseconds kill_grace_{seconds(5)};
  std::vector<signing::PublicKey> trusted_keys_;
  std::string run_as_;
  bool refuse_root_ = false;
  size_t max_early_ = 10'000;
  milliseconds max_hold_ahead_{seconds(60)};
  std::function<std::optional<std::string>(std::string_view)> cancel_early_;
  std::function<bool()> gate_ready_;
  milliseconds gate_wait_{seconds(10)};
  std::string topic_ = kTasks;
  SimulatedClock clock_{kT0};
  FakeConsumer consumer_;
  FakeProducer producer_;
  FakeExecutor executor_{&clock_};
  metrics::Registry registry_;
  WorkerMetrics metrics_{registry_};
  std::unique_ptr<Worker> worker_;
};

}  // namespace krond::worker::test
