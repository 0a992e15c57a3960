#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "exec/executor.h"

namespace krond::exec {

struct BubblewrapOptions {
  // The bwrap binary (Debian package bubblewrap, >= 0.8 for --disable-userns).
  // Default: /usr/bin/bwrap.
  std::string bwrap_path = "/usr/bin/bwrap";
  // Identity of the command inside the sandbox's user namespace. Default: 65534 (nobody).
  std::uint32_t uid = 65534;
  std::uint32_t gid = 65534;
};

// Runs each command inside a bubblewrap sandbox by handing `bwrap <options> -- argv` to an
// inner executor (normally a ProcessExecutor, which then applies timeout, kill escalation,
// output tail and rlimits to the bwrap process; rlimits are inherited by the sandbox).
//
// The sandbox (see docs/execution.md for the threat model):
//   --ro-bind / /        the host file system, read-only
//   --dev /dev           a minimal /dev (null, zero, random, tty...), no host devices
//   --proc /proc         a procfs of the sandbox's own PID namespace
//   --tmpfs /tmp         a private, writable, empty /tmp (gone after the run)
//   --tmpfs /run         hides host sockets (D-Bus, container runtimes) under /run
//   --unshare-all        new user, mount, PID, IPC, UTS, cgroup and network namespaces;
//                        --share-net keeps the host network when RunSpec::sandbox allows it
//   --disable-userns     the command cannot create further user namespaces
//   --die-with-parent    the sandbox dies if the worker dies
//   --new-session        no access to a controlling terminal (TIOCSTI)
//   --uid/--gid 65534    runs as nobody, with no capabilities
//   --chdir              RunSpec::cwd, default /tmp
//
// Killing: on timeout or cancel the inner executor signals bwrap's process group; bwrap
// dies and the kernel then kills every process of the sandbox's PID namespace, including
// ones that called setsid(). A SIGTERM therefore ends the sandbox at once: commands in the
// sandbox get no graceful-shutdown window.
//
// bwrap's own failures (no user namespaces, bad --chdir, program not found in the sandbox)
// are reported as kSpawnFailed with bwrap's message: bwrap then exits 1 after writing one
// "bwrap: ..." line. A command that itself prints a line starting with "bwrap: " as its
// whole output and exits 1 would be misclassified the same way; that only mislabels its
// own run.
//
// Thread-safe if `inner` is (ProcessExecutor is). `inner` must outlive this executor.
class BubblewrapExecutor final : public Executor {
 public:
  explicit BubblewrapExecutor(Executor& inner, BubblewrapOptions options = {});

  RunOutcome Run(const RunSpec& spec, CancelToken& cancel) override;

  // Runs /bin/true in the sandbox. Call at worker start-up to fail fast, with bwrap's
  // message, on hosts where the sandbox cannot work (no bwrap, user namespaces disabled,
  // seccomp-filtered container...). Blocks for at most ~10 s.
  [[nodiscard]] Status Probe();

  // The full argv the inner executor runs for `spec`. Exposed for tests and logging.
  std::vector<std::string> SandboxArgv(const RunSpec& spec) const;

 private:
  Executor& inner_;
  const BubblewrapOptions options_;
};

}  // namespace krond::exec
