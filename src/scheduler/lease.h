#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>

#include "common/clock.h"
#include "common/result.h"
#include "messages/scheduler_records.h"

namespace krond::scheduler {

// Leader election by lease (docs/architecture.md, "One scheduler mode"). The active scheduler
// commits a heartbeat to <prefix>.leader in its transactions, at least every
// heartbeat_interval; every other replica follows that topic (read_committed, no consumer
// group) and takes over once it has seen no heartbeat for `timeout` on its own monotonic
// clock. Taking over starts with InitTransactions on the shared transactional.id, which fences
// the previous active scheduler: the election only decides who tries, fencing keeps firing
// exactly once even when two replicas believe they lead.
struct LeaseOptions {
  // How often the active scheduler commits a heartbeat when it has nothing to fire.
  // Default: 500 ms. Requires: > 0 and < timeout.
  std::chrono::milliseconds heartbeat_interval{500};
  // A standby takes over after seeing no heartbeat for this long; the active scheduler
  // steps down when it could not commit one for this long. Default: 2.5 s, so a killed
  // scheduler is replaced in about 3 s. Lower is faster and risks needless takeovers when
  // a commit stalls (a broker restarting); each is safe, never a double fire.
  std::chrono::milliseconds timeout{2500};
  // A standby waits a random delay up to this long after the lease expired, then takes over
  // unless a heartbeat arrived meanwhile: replicas that saw the lease expire together
  // rarely fence each other. After a resigned heartbeat (a clean stop) the delay is at most
  // a fifth of it. Default: 500 ms.
  std::chrono::milliseconds max_jitter{500};

  [[nodiscard]] Status Validate() const;
};

// A standby's view of the lease. Pure: times are passed in. Not thread-safe.
class LeaseWatch {
 public:
  // `self` is this replica's owner id (its own heartbeats are ignored); `seed` draws the
  // jitter (a per-replica value, so replicas draw different delays).
  LeaseWatch(LeaseOptions options, std::string self, uint64_t seed);

  // Starts over as if a heartbeat had just been seen: at start-up (until the topic's tail is
  // read, see CaughtUp), and after this replica stopped leading (stepped down, fenced), so it
  // gives the new leader a whole timeout before contending.
  void Reset(MonoTime now);
  // A heartbeat read from the lease topic. `live`: read as it arrived, not from the tail
  // present at start-up (a resigned record from the tail says nothing of when it was written).
  void Observe(const messages::LeaseRecord& record, MonoTime now);
  // The tail present at start-up has been read: with no heartbeat in it, or a resigned one,
  // nobody leads, so contend after the jitter (a fifth of it after a resignation) instead of
  // a whole timeout.
  void CaughtUp(MonoTime now);

  enum class Verdict {
    kHeld,      // someone holds the lease (or we still wait for the start-up tail)
    kExpired,   // the lease just expired: a takeover is scheduled after the jitter
    kWaiting,   // expired earlier; the jitter has not passed yet
    kTakeOver,  // take over now
  };
  Verdict Check(MonoTime now);
  // When Check's verdict changes at the latest if nothing is observed.
  MonoTime NextCheck() const;

  // After a live resigned heartbeat: the instant through which the resigned scheduler fired
  // (CatchUpOptions::handover_since), while a takeover now still counts as the hand-over.
  std::optional<SystemTime> HandoverSince(MonoTime now) const;
  // How long no heartbeat has been seen.
  std::chrono::milliseconds Silence(MonoTime now) const;
  const std::string& last_owner() const { return last_owner_; }

 private:
  std::chrono::milliseconds Jitter(std::chrono::milliseconds max);

  LeaseOptions options_;
  std::string self_;
  std::mt19937_64 random_;
  bool caught_up_ = false;
  bool seen_any_ = false;
  bool last_resigned_ = false;
  MonoTime last_seen_{};
  std::optional<MonoTime> take_over_at_;
  std::string last_owner_;
  std::optional<SystemTime> resigned_through_;
  MonoTime resigned_seen_{};
};

}  // namespace krond::scheduler
