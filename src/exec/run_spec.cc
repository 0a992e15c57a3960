#include "exec/run_spec.h"

#include "common/user_name.h"

namespace krond::exec {

Status RunSpec::Validate() const {
  if (argv.empty() || argv[0].empty()) return MakeError("argv must name a program");
  for (const std::string& arg : argv) {
    if (arg.find('\0') != std::string::npos) return MakeError("argv contains a NUL byte");
  }
  for (const auto& [name, value] : env) {
    if (name.empty() || name.find('=') != std::string::npos ||
        name.find('\0') != std::string::npos || value.find('\0') != std::string::npos) {
      return MakeError("invalid environment variable name \"" + name + "\"");
    }
  }
  if (!user.empty() && !IsValidUserName(user)) {
    return MakeError("invalid user name \"" + user + "\"");
  }
  if (cwd.find('\0') != std::string::npos) return MakeError("cwd contains a NUL byte");
  if (timeout.count() < 0) return MakeError("timeout must be >= 0");
  if (kill_grace.count() < 0) return MakeError("kill_grace must be >= 0");
  if (output_tail_bytes > 64 * 1024 * 1024) return MakeError("output_tail_bytes must be <= 64 MiB");
  for (const auto& limit : {limits.cpu_seconds, limits.address_space_bytes, limits.open_files,
                            limits.processes, limits.file_size_bytes}) {
    if (limit && *limit == 0) return MakeError("resource limits must be > 0");
  }
  return {};
}

std::string_view ToString(OutcomeKind kind) {
  switch (kind) {
    case OutcomeKind::kSucceeded:
      return "succeeded";
    case OutcomeKind::kFailed:
      return "failed";
    case OutcomeKind::kTimedOut:
      return "timed_out";
    case OutcomeKind::kKilledBySignal:
      return "killed_by_signal";
    case OutcomeKind::kSpawnFailed:
      return "spawn_failed";
    case OutcomeKind::kCancelled:
      return "cancelled";
    case OutcomeKind::kBootFailed:
      return "boot_failed";
  }
  return "unknown";
}

std::string_view ToString(Refusal refusal) {
  switch (refusal) {
    case Refusal::kNone:
      return "none";
    case Refusal::kRoot:
      return "root";
    case Refusal::kUnknownUser:
      return "unknown_user";
  }
  return "unknown";
}

std::string_view ToString(Accelerator accelerator) {
  return accelerator == Accelerator::kKvm ? "kvm" : "tcg";
}

}  // namespace krond::exec
