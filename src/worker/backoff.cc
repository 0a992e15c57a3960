#include "worker/backoff.h"

#include <algorithm>
#include <cmath>

namespace krond::worker {

std::chrono::milliseconds RetryDelay(const messages::RetrySpec& spec, int next_attempt, double u) {
  // Decoders bound every field (messages::kMaxDurationMs, kMaxMultiplier, kMaxJitter); this
  // still holds for any input, since a reversed std::clamp or llround of NaN is undefined.
  const double cap = std::max(0.0, static_cast<double>(spec.max_backoff.count()));
  const double exponent = std::max(0, next_attempt - 2);
  double base = static_cast<double>(spec.backoff.count()) * std::pow(spec.multiplier, exponent);
  base = std::min(base, cap);
  double jittered = base * (1.0 + spec.jitter * (2.0 * u - 1.0));
  if (!std::isfinite(jittered)) jittered = cap;
  jittered = std::clamp(jittered, 0.0, cap);
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(jittered)));
}

bool IsRetried(const messages::RetrySpec& spec, messages::Outcome outcome) {
  // The command never started, so another attempt cannot repeat its side effects.
  if (outcome == messages::Outcome::kBootFailed) return true;
  const std::string_view name = messages::OutcomeName(outcome);
  return std::find(spec.retry_on.begin(), spec.retry_on.end(), name) != spec.retry_on.end();
}

}  // namespace krond::worker
