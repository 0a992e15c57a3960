#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "exec/group_watch.h"
#include "exec/run_as.h"
#include "exec/run_spec.h"
#include "exec/spawn.h"

namespace krond::exec {

// Shells started ahead of their runs, so that a run of `/bin/sh -c COMMAND` starts by
// handing COMMAND to a shell that is already loaded instead of paying posix_spawn and the
// exec of /bin/sh (~0.5 ms of CPU each on a small host) at the moment it is due. Cron fires
// come in bursts (every job of `0 * * * *` is due at the same instant); a burst of N runs
// otherwise starts its last command N spawns late.
//
// A warm shell is `/bin/sh -c '. /dev/fd/3'` in its own process group, with stdin from
// /dev/null, stdout and stderr on its output pipe and a script pipe on descriptor 3, blocked
// reading that pipe. Hand() writes `exec 3<&-; export NAME='value' ...; COMMAND` and closes
// the pipe: the shell closes the script descriptor (so the command never sees it), sets the
// run's variables and runs the command; its exit status is the command's. What differs from
// `sh -c COMMAND`: the shell's own error messages name the script, e.g.
// "/bin/sh: 1: /dev/fd/3: foo: not found" instead of "/bin/sh: 1: foo: not found", and the
// environment is the worker's as of when the shell was started.
//
// Only runs that need nothing posix_spawn would set differently are eligible (Eligible());
// others are spawned as before. A background thread keeps `size` shells ready, starting
// replacements once takes pause for 20 ms (so a steady stream of runs faster than that
// drains the pool and spawns, as without it); an idle shell
// whose pipe closes (the pool or the worker ended) reads an empty script and exits 0.
//
// Thread-safe. The destructor stops the refill thread and ends and reaps the idle shells.
class WarmShellPool {
 public:
  // A started shell waiting for its script. The caller owns the process once taken.
  struct Shell {
    pid_t pid = 0;
    internal::UniqueFd pidfd;   // -1 when the kernel has no pidfd_open
    internal::UniqueFd output;  // read end of stdout+stderr, non-blocking
    internal::UniqueFd script;  // write end of descriptor 3
  };

  // Keeps `size` shells ready (0 = none; Take() then always returns nullopt), each under
  // `guard` when it is enabled (the Shell's pid is then the guard's), else watched by `watch`
  // when there is one (from its start until the pool or, once taken, its owner ends it), with
  // `environment` (null: the worker's whole environment) and, with `user`, running as that
  // user (requires the guard). A pool serves one user: the executor spawns runs of any other.
  explicit WarmShellPool(std::size_t size, internal::Guard guard = {},
                         std::optional<std::vector<std::string>> environment = std::nullopt,
                         std::optional<Credentials> user = std::nullopt,
                         internal::GroupWatch* watch = nullptr);
  ~WarmShellPool();
  WarmShellPool(const WarmShellPool&) = delete;
  WarmShellPool& operator=(const WarmShellPool&) = delete;

  // Whether `spec` can run in a warm shell: argv is {"/bin/sh", "-c", command}, it inherits
  // the environment, sets no cwd and no limits, its variable names are shell identifiers
  // and its script fits in the pipe without blocking.
  static bool Eligible(const RunSpec& spec);
  // Script(spec) when `spec` is eligible, else nullopt: the check and the script in one pass.
  static std::optional<std::string> EligibleScript(const RunSpec& spec);
  // The script that runs `spec` in a warm shell.
  static std::string Script(const RunSpec& spec);

  // A ready shell, or nullopt when none is (the caller spawns instead).
  std::optional<Shell> Take();
  // Writes `script` (Script() of the run) to `shell` and closes the pipe. On failure (the shell
  // died while idle) the shell is killed and reaped, and the caller spawns instead.
  [[nodiscard]] Status Hand(Shell& shell, const std::string& script);

  std::size_t size() const { return size_; }
  // Shells ready now (for tests and logs).
  std::size_t Ready() const;

 private:
  void Refill();
  Result<Shell> Start() const;
  void End(Shell& shell) const;
  // After `shell` was reaped (its group then has no process the pool could leave behind).
  void Reaped(Shell& shell) const;

  const std::size_t size_;
  const internal::Guard guard_;
  internal::GroupWatch* const watch_;
  const std::optional<std::vector<std::string>> environment_;
  const std::optional<Credentials> user_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Shell> ready_;                          // guarded by mu_
  bool stopping_ = false;                            // guarded by mu_
  bool refill_idle_ = false;                         // guarded by mu_: waits for a take
  std::chrono::steady_clock::time_point last_take_;  // guarded by mu_
  std::thread refill_;
};

}  // namespace krond::exec
