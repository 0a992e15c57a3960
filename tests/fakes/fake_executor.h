#pragma once

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "exec/executor.h"

namespace krond::testing {

// An Executor that runs nothing. A run is identified by KROND_RUN_ID in its spec's env:
//  - with an outcome scripted for its id (Script) or a default outcome
//    (SetDefaultOutcome), Run returns it at once;
//  - otherwise Run blocks until the test calls Release(run_id, outcome), or until the
//    run's CancelToken fires, when it returns kCancelled (as a real executor kills the
//    command). A token cancelled before Run returns kCancelled at once.
// Thread-safe: the worker calls Run from its slot threads while the test inspects and
// releases from its own. The Wait* helpers block the test (bounded by a real-time limit)
// until slot threads have reached a point, since slot threads are real threads.
class FakeExecutor final : public exec::Executor {
 public:
  // `clock` (optional) stamps RunOutcome::started/finished/wall_started.
  explicit FakeExecutor(const Clock* clock = nullptr) : clock_(clock) {}

  exec::RunOutcome Run(const exec::RunSpec& spec, exec::CancelToken& cancel) override {
    const std::string id = RunIdOf(spec);
    const MonoTime started = clock_ != nullptr ? clock_->MonoNow() : MonoTime{};
    const SystemTime wall = clock_ != nullptr ? clock_->Now() : SystemTime{};
    std::optional<exec::RunOutcome> outcome;
    int wake_fd = -1;
    {
      std::lock_guard lock(mu_);
      specs_.push_back(spec);
      started_.push_back(id);
      if (auto it = released_.find(id); it != released_.end()) {
        outcome = std::move(it->second);
        released_.erase(it);
      } else if (auto s = scripted_.find(id); s != scripted_.end()) {
        outcome = s->second;
      } else if (default_outcome_) {
        outcome = default_outcome_;
      } else if (!cancel.IsCancelled()) {
        wake_fd = eventfd(0, EFD_CLOEXEC);
        blocked_[id] = wake_fd;
      }
      cv_.notify_all();
    }
    if (!outcome && wake_fd >= 0) {
      pollfd fds[2] = {{wake_fd, POLLIN, 0}, {cancel.WaitFd(), POLLIN, 0}};
      // Without a cancel eventfd, check the token every 10 ms (executors do the same).
      const int wait_ms = cancel.WaitFd() >= 0 ? -1 : 10;
      const nfds_t count = cancel.WaitFd() >= 0 ? 2 : 1;
      for (;;) {
        {
          std::lock_guard lock(mu_);
          if (auto it = released_.find(id); it != released_.end()) {
            outcome = std::move(it->second);
            released_.erase(it);
            break;
          }
        }
        if (cancel.IsCancelled()) break;
        poll(fds, count, wait_ms);
      }
      std::lock_guard lock(mu_);
      blocked_.erase(id);
      close(wake_fd);
    }
    if (!outcome) outcome = Cancelled();
    outcome->started = started;
    outcome->wall_started = wall;
    outcome->finished = clock_ != nullptr ? clock_->MonoNow() : started;
    std::lock_guard lock(mu_);
    returned_.push_back(id);
    cv_.notify_all();
    return *outcome;
  }

  // ---- Scripting ----------------------------------------------------------------------
  // Every run of `run_id` returns `outcome` at once.
  void Script(const std::string& run_id, exec::RunOutcome outcome) {
    std::lock_guard lock(mu_);
    scripted_[run_id] = std::move(outcome);
  }
  // Runs without a script return `outcome` at once; nullopt: they block (the default).
  void SetDefaultOutcome(std::optional<exec::RunOutcome> outcome) {
    std::lock_guard lock(mu_);
    default_outcome_ = std::move(outcome);
  }
  // Lets the blocked (or the next) run of `run_id` return `outcome`.
  void Release(const std::string& run_id, exec::RunOutcome outcome) {
    std::lock_guard lock(mu_);
    released_[run_id] = std::move(outcome);
    if (auto it = blocked_.find(run_id); it != blocked_.end()) {
      const uint64_t one = 1;
      [[maybe_unused]] ssize_t n = write(it->second, &one, sizeof one);
    }
  }

  // ---- Waiting (real time, bounded) -----------------------------------------------------
  // Until `n` runs have started (called Run); false on timeout.
  bool WaitStarted(size_t n, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return started_.size() >= n; });
  }
  // Until `run_id` is blocked in Run (waiting for Release or a cancel).
  bool WaitBlocked(const std::string& run_id,
                   std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return blocked_.count(run_id) != 0; });
  }
  // Until `n` runs have returned from Run.
  bool WaitReturned(size_t n, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return returned_.size() >= n; });
  }

  // ---- Inspection ---------------------------------------------------------------------
  std::vector<exec::RunSpec> specs() const {
    std::lock_guard lock(mu_);
    return specs_;
  }
  // Run ids in the order Run was called / returned.
  std::vector<std::string> started() const {
    std::lock_guard lock(mu_);
    return started_;
  }
  std::vector<std::string> returned() const {
    std::lock_guard lock(mu_);
    return returned_;
  }

  // ---- Outcomes -----------------------------------------------------------------------
  static exec::RunOutcome Succeeded(std::string output = "") {
    exec::RunOutcome o;
    o.kind = exec::OutcomeKind::kSucceeded;
    o.exit_code = 0;
    o.pid = 4242;
    o.output_bytes_total = output.size();
    o.output_tail = std::move(output);
    return o;
  }
  static exec::RunOutcome Failed(int exit_code, std::string output = "") {
    exec::RunOutcome o = Succeeded(std::move(output));
    o.kind = exec::OutcomeKind::kFailed;
    o.exit_code = exit_code;
    return o;
  }
  static exec::RunOutcome TimedOut() {
    exec::RunOutcome o = Succeeded();
    o.kind = exec::OutcomeKind::kTimedOut;
    o.exit_code = 128 + 15;
    o.signal = 15;
    return o;
  }
  static exec::RunOutcome Cancelled() {
    exec::RunOutcome o;
    o.kind = exec::OutcomeKind::kCancelled;
    o.exit_code = -1;
    return o;
  }

 private:
  static std::string RunIdOf(const exec::RunSpec& spec) {
    for (const auto& [name, value] : spec.env) {
      if (name == "KROND_RUN_ID") return value;
    }
    return "";
  }

  const Clock* clock_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<exec::RunSpec> specs_;
  std::vector<std::string> started_;
  std::vector<std::string> returned_;
  std::map<std::string, exec::RunOutcome> scripted_;
  std::map<std::string, exec::RunOutcome> released_;
  std::map<std::string, int> blocked_;  // run id -> eventfd that Release signals
  std::optional<exec::RunOutcome> default_outcome_;
};

}  // namespace krond::testing
