#pragma once

#include <memory>

#include "exec/cancel_token.h"
#include "exec/run_spec.h"

namespace krond::exec {

// A run handed to an executor: its command may already be running (Executor::Begin), and
// Wait() blocks until it and everything it left behind are gone. Wait() is called once.
class PendingRun {
 public:
  virtual ~PendingRun() = default;
  virtual RunOutcome Wait() = 0;
};

// Runs one command to completion and reports what happened. This is the seam between the
// worker and the operating system: ProcessExecutor runs commands directly,
// BubblewrapExecutor inside a bubblewrap sandbox, MicroVmExecutor in a virtual machine of
// their own, and worker tests use a fake.
//
// Run() blocks the calling thread (a worker slot) until the command and everything it left
// behind are gone. Implementations are thread-safe: a worker calls Run() from N slot
// threads at once, and one run never waits for another.
//
// Begin() splits a run in two for the worker's dispatch thread: it starts the command at
// once when that costs no more than a write (a warm shell), and leaves everything slow
// (spawning, supervising) to the returned run's Wait() on a slot thread. A burst of runs is
// then started back to back instead of one per slot-thread wake-up. The default defers the
// whole of Run() to Wait().
//
// Run() returns a RunOutcome rather than a Result: every way a run can end, including
// "could not be started", is an outcome the worker reports, not an error it propagates.
// An invalid RunSpec is reported as kSpawnFailed with the validation message.
class Executor {
 public:
  virtual ~Executor() = default;
  virtual RunOutcome Run(const RunSpec& spec, CancelToken& cancel) = 0;
  // `cancel` must outlive the returned run.
  virtual std::unique_ptr<PendingRun> Begin(RunSpec spec, CancelToken& cancel);
};

}  // namespace krond::exec
