#pragma once

#include "exec/cancel_token.h"
#include "exec/run_spec.h"

namespace krond::exec {

// Runs one command to completion and reports what happened. This is the seam between the
// worker and the operating system: ProcessExecutor runs commands directly,
// BubblewrapExecutor inside a bubblewrap sandbox, a microVM executor could run them in a
// Firecracker VM, and worker tests use a fake.
//
// Run() blocks the calling thread (a worker slot) until the command and everything it left
// behind are gone. Implementations are thread-safe: a worker calls Run() from N slot
// threads at once, and one run never waits for another.
//
// Run() returns a RunOutcome rather than a Result: every way a run can end, including
// "could not be started", is an outcome the worker reports, not an error it propagates.
// An invalid RunSpec is reported as kSpawnFailed with the validation message.
class Executor {
 public:
  virtual ~Executor() = default;
  virtual RunOutcome Run(const RunSpec& spec, CancelToken& cancel) = 0;
};

}  // namespace krond::exec
