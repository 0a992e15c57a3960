// Shared by the machine probes (kafka_roundtrip, burst_floor): flag parsing, failure exits,
// krond's Kafka clients and the percentile line. Header-only; each probe is one executable.
#pragma once

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "kafka/rdkafka_client.h"

namespace krond::bench {

using Micros = std::chrono::microseconds;

// Exits 2 with why and the usage line.
[[noreturn]] inline void Usage(const char* tool, const char* usage, const std::string& why) {
  std::fprintf(stderr, "%s: %s\nusage: %s\n", tool, why.c_str(), usage);
  std::exit(2);
}

// Where a flag's value goes: a string, or an int (a whole number, else a usage error).
using FlagTarget = std::variant<std::string*, int*>;

// What every probe takes: the broker, a fresh topic and --kafka-setting overrides of
// krond's client settings.
struct CommonFlags {
  std::string brokers;
  std::string topic;
  std::map<std::string, std::string> overrides;
};

// Reads `--flag value` pairs: --brokers, --topic and `--kafka-setting k=v` (repeatable) into
// `common`, the probe's own `flags` into their targets. Exits 2 with `usage` on an unknown
// flag, a bad value or a missing --brokers or --topic.
inline void ParseFlags(int argc, char** argv, const char* tool, const char* usage,
                       CommonFlags& common, std::map<std::string, FlagTarget> flags) {
  flags.emplace("--brokers", &common.brokers);
  flags.emplace("--topic", &common.topic);
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) Usage(tool, usage, "missing value for " + flag);
    const std::string value = argv[++i];
    const auto target = flags.find(flag);
    if (flag == "--kafka-setting" && value.find('=') != std::string::npos) {
      common.overrides[value.substr(0, value.find('='))] = value.substr(value.find('=') + 1);
    } else if (target == flags.end()) {
      Usage(tool, usage, "unknown flag " + flag);
    } else if (auto* text = std::get_if<std::string*>(&target->second)) {
      **text = value;
    } else {
      int* number = std::get<int*>(target->second);
      const auto [end, err] = std::from_chars(value.data(), value.data() + value.size(), *number);
      if (err != std::errc() || end != value.data() + value.size()) {
        Usage(tool, usage, flag + " takes a whole number, not " + value);
      }
    }
  }
  if (common.brokers.empty() || common.topic.empty()) {
    Usage(tool, usage, "--brokers and --topic are required");
  }
}

// A failure after the flags were read: no usage text, which would mislead.
[[noreturn]] inline void Die(const char* tool, const std::string& why) {
  std::fprintf(stderr, "%s: %s\n", tool, why.c_str());
  std::exit(1);
}

// krond's client settings (kafka::ClientConfig) for a probe's flags.
inline kafka::ClientConfig ProbeConfig(const char* tool, const CommonFlags& f) {
  kafka::ClientConfig config;
  config.brokers = f.brokers;
  config.client_id = std::string("krond-") + tool;
  config.overrides = f.overrides;
  return config;
}

// A producer with krond's own client settings (NewRdKafkaProducer) plus `overrides`.
inline std::unique_ptr<kafka::Producer> ProbeProducer(const char* tool, const CommonFlags& f) {
  auto producer = kafka::NewRdKafkaProducer(ProbeConfig(tool, f), {});
  if (!producer) Die(tool, producer.error().message);
  return std::move(*producer);
}

// A consumer with krond's own client settings in `group`, subscribed to the topic.
inline std::unique_ptr<kafka::Consumer> ProbeConsumer(const char* tool, const CommonFlags& f,
                                                      const std::string& group) {
  kafka::ConsumerOptions options;
  options.group_id = group;
  auto consumer = kafka::NewRdKafkaConsumer(ProbeConfig(tool, f), options);
  if (!consumer) Die(tool, consumer.error().message);
  if (auto ok = (*consumer)->Subscribe({f.topic}); !ok) Die(tool, ok.error().message);
  return std::move(*consumer);
}

inline void PrintPercentiles(const char* what, std::vector<Micros> samples) {
  if (samples.empty()) {
    std::printf("  %-44s no samples\n", what);
    return;
  }
  std::sort(samples.begin(), samples.end());
  auto q = [&](double p) {
    const auto i = std::min(samples.size() - 1, static_cast<size_t>(p * samples.size()));
    return static_cast<double>(samples[i].count()) / 1000.0;
  };
  std::printf("  %-44s n=%zu p50 %.2f p90 %.2f p99 %.2f p99.9 %.2f max %.2f ms\n", what,
              samples.size(), q(0.5), q(0.9), q(0.99), q(0.999), q(1.0));
}

}  // namespace krond::bench
