#pragma once

#include <chrono>

#include "messages/run_messages.h"

namespace krond::worker {

// Delay before attempt `next_attempt` (2 for the first retry):
//   min(max_backoff, backoff * multiplier^(next_attempt-2)) * (1 + jitter * (2u - 1))
// with u uniform in [0,1) supplied by the caller (so tests pass fixed values), and the
// result capped at max_backoff again. Never negative.
std::chrono::milliseconds RetryDelay(const messages::RetrySpec& spec, int next_attempt, double u);

// Whether an attempt that ended with `outcome` is retried under `spec` (given attempts left):
// an outcome listed in retry_on, and boot_failed always (the command never ran).
bool IsRetried(const messages::RetrySpec& spec, messages::Outcome outcome);

}  // namespace krond::worker
