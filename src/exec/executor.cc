#include "exec/executor.h"

#include <utility>

namespace krond::exec {
namespace {

// A run that has not started: Wait() is all of Run().
class DeferredRun final : public PendingRun {
 public:
  DeferredRun(Executor& executor, RunSpec spec, CancelToken& cancel)
      : executor_(executor), spec_(std::move(spec)), cancel_(cancel) {}
  RunOutcome Wait() override { return executor_.Run(spec_, cancel_); }

 private:
  Executor& executor_;
  const RunSpec spec_;
  CancelToken& cancel_;
};

}  // namespace

std::unique_ptr<PendingRun> Executor::Begin(RunSpec spec, CancelToken& cancel) {
  return std::make_unique<DeferredRun>(*this, std::move(spec), cancel);
}

}  // namespace krond::exec
