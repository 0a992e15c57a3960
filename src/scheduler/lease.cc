#include "scheduler/lease.h"

namespace krond::scheduler {

Status LeaseOptions::Validate() const {
  if (heartbeat_interval.count() <= 0 || heartbeat_interval >= timeout) {
    return MakeError("the heartbeat interval must be positive and shorter than the lease timeout");
  }
  if (max_jitter.count() < 0) return MakeError("the lease jitter must not be negative");
  return {};
}

LeaseWatch::LeaseWatch(LeaseOptions options, std::string self, uint64_t seed)
    : options_(options), self_(std::move(self)), random_(seed) {}

std::chrono::milliseconds LeaseWatch::Jitter(std::chrono::milliseconds max) {
  if (max.count() <= 0) return std::chrono::milliseconds(0);
  std::uniform_int_distribution<int64_t> draw(0, max.count());
  return std::chrono::milliseconds(draw(random_));
}

void LeaseWatch::Reset(MonoTime now) {
  last_seen_ = now;
  take_over_at_.reset();
  resigned_through_.reset();
}

void LeaseWatch::Observe(const messages::LeaseRecord& record, MonoTime now) {
  if (record.owner == self_) return;
  seen_any_ = true;
  last_owner_ = record.owner;
  last_resigned_ = record.resigned;
  if (!record.resigned) {
    Reset(now);
    return;
  }
  if (!caught_up_) return;  // decided in CaughtUp
  // A clean stop: nobody leads from now on, so do not wait out the timeout.
  resigned_through_ = record.at;
  resigned_seen_ = now;
  take_over_at_ = now + Jitter(options_.max_jitter / 5);
}

void LeaseWatch::CaughtUp(MonoTime now) {
  if (caught_up_) return;
  caught_up_ = true;
  // Nobody leads. After a clean stop the successor should not wait; on a fresh topic the
  // replicas start together, and the whole jitter spreads them apart.
  if (last_resigned_) take_over_at_ = now + Jitter(options_.max_jitter / 5);
  if (!seen_any_) take_over_at_ = now + Jitter(options_.max_jitter);
}

LeaseWatch::Verdict LeaseWatch::Check(MonoTime now) {
  if (!take_over_at_) {
    if (now - last_seen_ < options_.timeout) return Verdict::kHeld;
    take_over_at_ = now + Jitter(options_.max_jitter);
    return now >= *take_over_at_ ? Verdict::kTakeOver : Verdict::kExpired;
  }
  return now >= *take_over_at_ ? Verdict::kTakeOver : Verdict::kWaiting;
}

MonoTime LeaseWatch::NextCheck() const {
  return take_over_at_ ? *take_over_at_ : last_seen_ + options_.timeout;
}

std::optional<SystemTime> LeaseWatch::HandoverSince(MonoTime now) const {
  if (!resigned_through_ || now - resigned_seen_ > options_.timeout) return std::nullopt;
  return resigned_through_;
}

std::chrono::milliseconds LeaseWatch::Silence(MonoTime now) const {
  return std::chrono::duration_cast<std::chrono::milliseconds>(now - last_seen_);
}

}  // namespace krond::scheduler
