#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "common/time_format.h"
#include "config/job_file.h"

namespace krond::scheduler::test_support {

// Parses a job file given as YAML, failing the test on any problem.
inline config::JobFile MustParse(std::string_view yaml) {
  auto file = config::ParseJobFile(yaml, "jobs.yaml");
  if (!file) {
    std::string all;
    for (const auto& p : file.error()) all += p.ToString() + "\n";
    ADD_FAILURE() << "job file problems:\n" << all;
    return {};
  }
  return std::move(*file);
}

// A job file with clusters [alpha, beta] and one job per {name, schedule} pair, on alpha.
inline config::JobFile Jobs(std::initializer_list<std::pair<std::string, std::string>> jobs) {
  std::string yaml = "clusters: [alpha, beta]\njobs:\n";
  for (const auto& [name, schedule] : jobs) {
    yaml += "  - name: " + name + "\n    schedule: \"" + schedule +
            "\"\n    cluster: alpha\n    command: run " + name + "\n";
  }
  return MustParse(yaml);
}

inline SystemTime Time(std::string_view rfc3339) {
  auto t = ParseRfc3339(rfc3339);
  EXPECT_TRUE(t.has_value()) << rfc3339;
  return t ? *t : SystemTime{};
}

}  // namespace krond::scheduler::test_support
