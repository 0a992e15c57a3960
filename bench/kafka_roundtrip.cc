// The floor under fire-to-start lateness on this machine, without krond's scheduler or
// worker: how late a 1 ms sleep wakes up, and how long one message takes from Produce() to
// the consumer's Poll() through the broker, with krond's own producer and consumer settings
// (NewRdKafkaProducer / NewRdKafkaConsumer). One message every --interval-ms, so each is
// alone on the wire. scripts/bench floor runs it; docs/benchmarks.md has the numbers.
//
//   kafka_roundtrip --brokers B --topic T [--messages N] [--interval-ms I]
//                   [--timer-samples S] [--kafka-setting k=v ...]
#include <spdlog/spdlog.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "bench/probe_util.h"
#include "common/clock.h"

namespace {

using krond::MonoTime;
using krond::bench::Micros;
using krond::bench::PrintPercentiles;

struct Options : krond::bench::CommonFlags {
  int messages = 2000;
  int interval_ms = 10;
  int timer_samples = 5000;
};

constexpr const char* kTool = "kafka_roundtrip";
constexpr const char* kUsage =
    "kafka_roundtrip --brokers B --topic T [--messages N] [--interval-ms I] "
    "[--timer-samples S] [--kafka-setting k=v ...]";

[[noreturn]] void Die(const std::string& why) { krond::bench::Die(kTool, why); }

Options Parse(int argc, char** argv) {
  Options o;
  krond::bench::ParseFlags(argc, argv, kTool, kUsage, o,
                           {{"--messages", &o.messages},
                            {"--interval-ms", &o.interval_ms},
                            {"--timer-samples", &o.timer_samples}});
  if (o.messages < 10 || o.interval_ms < 1 || o.timer_samples < 0) {
    krond::bench::Usage(kTool, kUsage, "bad count");
  }
  return o;
}

// How far past its deadline a 1 ms sleep returns: the scheduling noise every wake-up on the
// path (scheduler timer, librdkafka threads, broker threads, worker poll) pays.
std::vector<Micros> TimerOvershoot(const krond::Clock& clock, int samples) {
  std::vector<Micros> out;
  for (int i = 0; i < samples; ++i) {
    const MonoTime start = clock.MonoNow();
    const timespec one_ms{0, 1'000'000};
    nanosleep(&one_ms, nullptr);
    out.push_back(std::chrono::duration_cast<Micros>(clock.MonoNow() - start) -
                  std::chrono::milliseconds(1));
  }
  return out;
}

int Run(const Options& o) {
  spdlog::set_level(spdlog::level::err);  // stdout is the report
  const krond::RealClock clock;
  auto producer = krond::bench::ProbeProducer(kTool, o);
  auto consumer = krond::bench::ProbeConsumer(kTool, o, o.topic + ".roundtrip");
  auto send = [&](const std::string& value) {
    if (auto ok = producer->Produce(o.topic, value, value, [](const auto&) {}); !ok) {
      Die(ok.error().message);
    }
    producer->Poll(std::chrono::milliseconds(0));
  };
  // Measure only once a message has made the whole trip: until then the consumer is still
  // joining the group and looking up its starting offsets.
  const MonoTime give_up = clock.MonoNow() + std::chrono::seconds(60);
  for (bool through = false; !through;) {
    if (clock.MonoNow() > give_up) Die("no message came back within 60 s");
    send("warm-up");
    auto polled = consumer->Poll(std::chrono::milliseconds(100));
    through = polled && polled->has_value();
  }
  // Drain the other warm-up messages.
  while (true) {
    auto polled = consumer->Poll(std::chrono::milliseconds(200));
    if (!polled || !polled->has_value()) break;
  }

  std::vector<MonoTime> sent(o.messages);
  std::vector<Micros> latency;
  const auto interval = std::chrono::milliseconds(o.interval_ms);
  for (int i = 0; i < o.messages; ++i) {
    sent[i] = clock.MonoNow();
    send(std::to_string(i));
    while (clock.MonoNow() < sent[i] + interval) {
      auto polled = consumer->Poll(std::chrono::milliseconds(1));
      if (!polled || !polled->has_value()) continue;
      const MonoTime received = clock.MonoNow();
      const std::string& got = (**polled).value;
      const int index = std::atoi(got.c_str());
      if (got != "warm-up" && index >= 0 && index <= i) {
        latency.push_back(std::chrono::duration_cast<Micros>(received - sent[index]));
      }
    }
  }
  consumer->Close();
  if (auto ok = producer->Flush(std::chrono::seconds(10)); !ok) {
    std::fprintf(stderr, "flush: %s\n", ok.error().message.c_str());
  }
  if (latency.size() < static_cast<size_t>(o.messages) / 2) Die("most messages never arrived");

  std::printf("floor: %d messages, one every %d ms, krond's client settings%s\n", o.messages,
              o.interval_ms, o.overrides.empty() ? "" : " plus --kafka-setting overrides");
  if (o.timer_samples > 0) {
    PrintPercentiles("1 ms sleep, overshoot", TimerOvershoot(clock, o.timer_samples));
  }
  PrintPercentiles("Produce() -> consumer Poll(), one message", latency);
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Run(Parse(argc, argv)); }
