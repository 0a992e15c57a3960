#include "exec/bubblewrap_executor.h"

#include <chrono>
#include <string_view>
#include <utility>

namespace krond::exec {
namespace {

constexpr std::string_view kBwrapErrorPrefix = "bwrap: ";

}  // namespace

BubblewrapExecutor::BubblewrapExecutor(Executor& inner, BubblewrapOptions options)
    : inner_(inner), options_(std::move(options)) {}

std::vector<std::string> BubblewrapExecutor::SandboxArgv(const RunSpec& spec) const {
  std::vector<std::string> argv = {
      options_.bwrap_path,
      "--ro-bind",
      "/",
      "/",
      "--dev",
      "/dev",
      "--proc",
      "/proc",
      "--tmpfs",
      "/tmp",
      "--tmpfs",
      "/run",
      "--unshare-all",
      "--unshare-user",
      "--disable-userns",
  };
  if (spec.sandbox.allow_network) {
    argv.push_back("--share-net");
    // Hosts running systemd-resolved point /etc/resolv.conf into /run.
    argv.insert(argv.end(), {"--ro-bind-try", "/run/systemd/resolve", "/run/systemd/resolve"});
  }
  argv.insert(argv.end(), {"--die-with-parent", "--new-session", "--uid",
                           std::to_string(options_.uid), "--gid", std::to_string(options_.gid),
                           "--chdir", spec.cwd.empty() ? std::string("/tmp") : spec.cwd, "--"});
  argv.insert(argv.end(), spec.argv.begin(), spec.argv.end());
  return argv;
}

RunOutcome BubblewrapExecutor::Run(const RunSpec& spec, CancelToken& cancel) {
  if (Status valid = spec.Validate(); !valid) {
    RunOutcome outcome;
    outcome.kind = OutcomeKind::kSpawnFailed;
    outcome.error = "invalid run spec: " + valid.error().message;
    return outcome;
  }
  RunSpec outer = spec;
  outer.argv = SandboxArgv(spec);
  outer.cwd.clear();  // Applied inside the sandbox by --chdir.
  RunOutcome outcome = inner_.Run(outer, cancel);
  const std::string_view tail = outcome.output_tail;
  if (outcome.kind == OutcomeKind::kFailed && outcome.exit_code == 1 &&
      outcome.output_bytes_dropped == 0 && tail.starts_with(kBwrapErrorPrefix)) {
    const std::string_view line = tail.substr(0, tail.find('\n'));
    if (line.size() + 1 >= tail.size()) {
      outcome.kind = OutcomeKind::kSpawnFailed;
      outcome.error = std::string(line);
    }
  }
  return outcome;
}

Status BubblewrapExecutor::Probe() {
  RunSpec spec;
  spec.argv = {"/bin/true"};
  spec.timeout = std::chrono::seconds(10);
  spec.kill_grace = std::chrono::seconds(0);
  CancelToken never;
  RunOutcome outcome = Run(spec, never);
  if (outcome.kind == OutcomeKind::kSucceeded) return {};
  std::string detail = !outcome.error.empty() ? outcome.error : outcome.output_tail;
  while (!detail.empty() && detail.back() == '\n') detail.pop_back();
  return MakeError("bubblewrap sandbox does not work on this host (" +
                   std::string(ToString(outcome.kind)) + ", exit code " +
                   std::to_string(outcome.exit_code) + "): " + detail);
}

}  // namespace krond::exec
