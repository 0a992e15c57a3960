// Shared by the machine probes (kafka_roundtrip, burst_floor): flag parsing, failure exits
// and the percentile line. Header-only; each probe is one executable.
#pragma once

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace krond::bench {

using Micros = std::chrono::microseconds;

// Exits 2 with why and the usage line.
[[noreturn]] inline void Usage(const char* tool, const char* usage, const std::string& why) {
  std::fprintf(stderr, "%s: %s\nusage: %s\n", tool, why.c_str(), usage);
  std::exit(2);
}

// Where a flag's value goes: a string, or an int (a whole number, else a usage error).
using FlagTarget = std::variant<std::string*, int*>;

// Reads `--flag value` pairs into `flags`' targets; `--kafka-setting k=v` (repeatable) goes
// to `overrides`. Exits 2 with `usage` on an unknown flag or a bad value.
inline void ParseFlags(int argc, char** argv, const char* tool, const char* usage,
                       const std::map<std::string, FlagTarget>& flags,
                       std::map<std::string, std::string>& overrides) {
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) Usage(tool, usage, "missing value for " + flag);
    const std::string value = argv[++i];
    const auto target = flags.find(flag);
    if (flag == "--kafka-setting" && value.find('=') != std::string::npos) {
      overrides[value.substr(0, value.find('='))] = value.substr(value.find('=') + 1);
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
