#pragma once

#include <functional>
#include <mutex>
#include <optional>

#include "common/result.h"
#include "exec/executor.h"

namespace krond::worker {

// An executor for runs that ask for a sandbox on a worker that does not sandbox by default.
// The sandbox is probed on the first such run, not at start-up (most workers never see
// one): `probe` (e.g. BubblewrapExecutor::Probe) runs once, and its verdict is kept for the
// life of the worker. If the sandbox works every run goes to `sandboxed`; if not, every run
// is reported as kSpawnFailed with the probe's message and nothing is started: a run that
// asked for a sandbox never runs without one.
//
// Thread-safe (slot threads call Run concurrently; the first callers wait for the probe).
// `sandboxed` must outlive this executor.
class LazySandboxExecutor final : public exec::Executor {
 public:
  LazySandboxExecutor(exec::Executor& sandboxed, std::function<Status()> probe)
      : sandboxed_(sandboxed), probe_(std::move(probe)) {}

  exec::RunOutcome Run(const exec::RunSpec& spec, exec::CancelToken& cancel) override {
    {
      std::lock_guard lock(mu_);
      if (!verdict_) verdict_ = probe_();
      if (!*verdict_) {
        exec::RunOutcome outcome;
        outcome.kind = exec::OutcomeKind::kSpawnFailed;
        outcome.error = "sandbox requested but unusable: " + verdict_->error().message;
        return outcome;
      }
    }
    return sandboxed_.Run(spec, cancel);
  }

 private:
  exec::Executor& sandboxed_;
  std::function<Status()> probe_;
  std::mutex mu_;
  std::optional<Status> verdict_;  // guarded by mu_
};

}  // namespace krond::worker
