// Shared by the machine probes (kafka_roundtrip, burst_floor): flag parsing, failure exits
// and the percentile line. Header-only; each probe is one executable.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace krond::bench {

using Micros = std::chrono::microseconds;

// Reads `--flag value` pairs; `--kafka-setting k=v` (repeatable) goes to `overrides`, every
// other flag to `on_flag`, which returns false for one it does not know. Exits 2 with
// `usage` on a bad flag.
inline void ParseFlags(int argc, char** argv, const char* tool, const char* usage,
                       std::map<std::string, std::string>& overrides,
                       const std::function<bool(const std::string&, const std::string&)>& on_flag) {
  auto fail = [&](const std::string& why) {
    std::fprintf(stderr, "%s: %s\nusage: %s\n", tool, why.c_str(), usage);
    std::exit(2);
  };
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) fail("missing value for " + flag);
    const std::string value = argv[++i];
    if (flag == "--kafka-setting" && value.find('=') != std::string::npos) {
      overrides[value.substr(0, value.find('='))] = value.substr(value.find('=') + 1);
    } else if (!on_flag(flag, value)) {
      fail("unknown flag or bad value: " + flag + " " + value);
    }
  }
}

// A failure after the flags were read: no usage text, which would mislead.
[[noreturn]] inline void Die(const char* tool, const std::string& why) {
  std::fprintf(stderr, "%s: %s\n", tool, why.c_str());
  std::exit(1);
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
