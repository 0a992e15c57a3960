// libFuzzer target for the job file parser: arbitrary bytes must produce either a JobFile or
// a non-empty list of positioned problems, never a crash, hang or escaped exception.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "common/env_name.h"
#include "common/utf8.h"
#include "config/job_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto file = krond::config::ParseJobFile(text, "fuzz.yaml");
  if (file) {
    // Whatever was accepted must hold the invariants the scheduler relies on.
    if (file->clusters.empty()) std::abort();
    for (const krond::config::Job& job : file->jobs) {
      if (job.name.empty() || job.command.empty() || job.line < 1) std::abort();
      if (job.retry.max_backoff < job.retry.backoff) std::abort();
      // What workers run is what the file says: bounded, UTF-8, no NUL (issue 19).
      if (job.command.size() > krond::config::kMaxCommandBytes) std::abort();
      if (job.command.find('\0') != std::string::npos) std::abort();
      if (krond::SanitizeUtf8(job.command) != job.command) std::abort();
      // env: what a task may carry (messages::DecodeTask accepts it), names sorted and unique.
      if (job.env) {
        size_t bytes = 0;
        for (size_t i = 0; i < job.env->size(); ++i) {
          const auto& [name, value] = (*job.env)[i];
          if (!krond::IsValidEnvName(name) || krond::IsReservedEnvName(name)) std::abort();
          if (i > 0 && !((*job.env)[i - 1].first < name)) std::abort();
          if (value.find('\0') != std::string::npos) std::abort();
          bytes += name.size() + value.size();
        }
        if (job.env->empty() || bytes > krond::config::kMaxEnvBytes) std::abort();
      }
    }
  } else {
    if (file.error().empty()) std::abort();
    for (const krond::config::Problem& problem : file.error()) {
      if (problem.line < 1 || problem.column < 1 || problem.message.empty()) std::abort();
      (void)problem.ToString();
    }
  }
  return 0;
}
