#include "worker/clock_probe.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <optional>

namespace krond::worker {
namespace {

using std::chrono::duration_cast;
using std::chrono::microseconds;
using std::chrono::milliseconds;

// How long one follower poll may wait: the longest a stop waits for a round.
constexpr milliseconds kPollSlice{100};
// Above this (beyond the estimate's uncertainty) the worker logs a warning once; the alert
// KrondWorkerClockOffset uses the same threshold (docs/alerting.md).
constexpr microseconds kWarnOffset{50'000};

double Seconds(microseconds d) { return static_cast<double>(d.count()) / 1e6; }
double Millis(microseconds d) { return static_cast<double>(d.count()) / 1e3; }

}  // namespace

Status ClockProbeOptions::Validate() const {
  if (topic.empty()) return MakeError("clock probe: no topic");
  if (probe_id.empty()) return MakeError("clock probe: no probe id");
  if (interval.count() < 0) return MakeError("--clock-probe-interval must not be negative");
  if (samples < 1 || samples > 100) return MakeError("clock probe: samples must be 1..100");
  if (sample_timeout.count() <= 0) return MakeError("clock probe: sample timeout must be > 0");
  return {};
}

ClockProbe::ClockProbe(const Clock& clock, kafka::Producer& producer,
                       kafka::PartitionFollower& follower, WorkerMetrics& metrics,
                       ClockProbeOptions options)
    : clock_(clock),
      producer_(producer),
      follower_(follower),
      metrics_(metrics),
      options_(std::move(options)) {}

ClockProbe::~ClockProbe() { Stop(); }

void ClockProbe::Start() {
  if (options_.interval.count() == 0) {
    spdlog::info("clock probe off (--clock-probe-interval 0)");
    return;
  }
  thread_ = std::thread([this] { Loop(); });
}

void ClockProbe::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool ClockProbe::stopping() const {
  std::lock_guard lock(mu_);
  return stop_;
}

void ClockProbe::Loop() {
  std::unique_lock lock(mu_);
  while (!stop_) {
    lock.unlock();
    (void)RunOnce();
    lock.lock();
    wake_.wait_for(lock, options_.interval, [this] { return stop_; });
  }
}

Result<ClockOffset> ClockProbe::RunOnce() {
  Result<ClockOffset> result = Round();
  if (stopping()) return result;
  if (!result) {
    metrics_.clock_probe_rounds.WithLabels({"failed"}).Inc();
    if (!failing_) {
      spdlog::warn(
          "clock probe: {}; krond_worker_clock_offset_seconds keeps its last value until a "
          "round succeeds",
          result.error().message);
    }
    failing_ = true;
    return result;
  }
  metrics_.clock_probe_rounds.WithLabels({"ok"}).Inc();
  metrics_.clock_offset.Set(Seconds(result->offset));
  metrics_.clock_offset_uncertainty.Set(Seconds(result->uncertainty()));
  const bool off = std::chrono::abs(result->offset) - result->uncertainty() > kWarnOffset;
  if (off && !offset_warned_) {
    spdlog::warn(
        "clock probe: this host's clock is {:+.1f} ms ± {:.1f} ms off the Kafka broker's; "
        "runs start on this clock (docs/runbooks/KrondWorkerClockOffset.md: check NTP)",
        Millis(result->offset), Millis(result->uncertainty()));
  } else if (first_ || failing_ || (offset_warned_ && !off)) {
    spdlog::info("clock probe: this host's clock is {:+.1f} ms ± {:.1f} ms from the broker's",
                 Millis(result->offset), Millis(result->uncertainty()));
  }
  offset_warned_ = off;
  failing_ = false;
  first_ = false;
  return result;
}

Result<ClockOffset> ClockProbe::Round() {
  if (auto ok = CatchUp(); !ok) return tl::unexpected(ok.error());
  std::optional<ClockOffset> best;
  for (int i = 0; i < options_.samples; ++i) {
    auto sample = Sample();
    if (!sample) {
      // What went wrong once (a refusal, a lost probe) would most likely go wrong again:
      // the round ends with what it has.
      if (best) break;
      return sample;
    }
    if (!best || sample->round_trip < best->round_trip) best = *sample;
  }
  return *best;
}

Status ClockProbe::CatchUp() {
  const MonoTime deadline = clock_.MonoNow() + options_.sample_timeout;
  std::string error;
  while (!follower_.AtEnd()) {
    if (stopping()) return MakeError("stopped");
    const MonoTime now = clock_.MonoNow();
    if (now >= deadline) {
      return MakeError("could not reach the end of " + options_.topic + " within " +
                       std::to_string(options_.sample_timeout.count()) + " ms" +
                       (error.empty() ? "" : " (" + error + ")"));
    }
    auto polled = follower_.Poll(
        std::min<milliseconds>(kPollSlice, duration_cast<milliseconds>(deadline - now)));
    if (!polled) error = polled.error().message;
  }
  return {};
}

Result<ClockOffset> ClockProbe::Sample() {
  const std::string key = options_.probe_id + "#" + std::to_string(++sequence_);
  // Set by the delivery callback, which runs on this thread (Producer::Poll below), maybe
  // after this sample gave up: hence shared.
  auto refused = std::make_shared<std::optional<std::string>>();
  const SystemTime sent_wall = clock_.Now();
  const MonoTime sent = clock_.MonoNow();
  auto produced = producer_.Produce(options_.topic, key, options_.probe_id,
                                    [refused](const kafka::DeliveryReport& report) {
                                      if (!report.status) *refused = report.status.error().message;
                                    });
  if (!produced) {
    return MakeError("probe not produced to " + options_.topic + ": " + produced.error().message);
  }
  const MonoTime deadline = sent + options_.sample_timeout;
  std::string error;
  for (;;) {
    producer_.Poll(milliseconds(0));
    if (*refused) {
      return MakeError("probe not written to " + options_.topic + ": " + **refused);
    }
    if (stopping()) return MakeError("stopped");
    const MonoTime now = clock_.MonoNow();
    if (now >= deadline) {
      return MakeError("probe not read back from " + options_.topic + " within " +
                       std::to_string(options_.sample_timeout.count()) + " ms" +
                       (error.empty() ? "" : " (" + error + ")"));
    }
    auto polled = follower_.Poll(
        std::min<milliseconds>(kPollSlice, duration_cast<milliseconds>(deadline - now)));
    if (!polled) {
      error = polled.error().message;
      continue;
    }
    // Others' probes and older ones of this worker are skipped.
    if (!*polled || (*polled)->key != key) continue;
    const kafka::ConsumedMessage& m = **polled;
    if (!m.log_append_time || m.timestamp_ms < 0) {
      return MakeError(
          "topic " + options_.topic +
          " does not stamp records with the broker's time; set its "
          "message.timestamp.type=LogAppendTime (kafka-configs.sh --alter --entity-type topics "
          "--entity-name " +
          options_.topic + " --add-config message.timestamp.type=LogAppendTime)");
    }
    ClockOffset sample;
    sample.round_trip = duration_cast<microseconds>(clock_.MonoNow() - sent);
    const microseconds local_mid =
        duration_cast<microseconds>(sent_wall.time_since_epoch()) + sample.round_trip / 2;
    sample.offset = local_mid - duration_cast<microseconds>(milliseconds(m.timestamp_ms));
    return sample;
  }
}

}  // namespace krond::worker
