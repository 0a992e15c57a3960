#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "exec/run_spec.h"

// Building blocks shared by ProcessExecutor and WarmShellPool, the two places that start
// processes. Internal to src/exec.
namespace krond::exec::internal {

// Owns one file descriptor.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      Reset();
      fd_ = other.Release();
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { Reset(); }
  int Get() const { return fd_; }
  bool Valid() const { return fd_ >= 0; }
  int Release() {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void Reset();

 private:
  int fd_ = -1;
};

std::string ErrnoText(int err);

// write(2) that reports a closed pipe as EPIPE without raising SIGPIPE in a process that
// has not ignored it: the signal is blocked on this thread and any pending one is consumed.
ssize_t WriteNoSigpipe(int fd, const std::string& data);

// Appends `text` as one single-quoted shell word ('it'\''s'): a script that a shell runs
// (a warm shell's, a microVM's run.sh) can then hold any bytes but NUL.
void AppendShellQuoted(std::string& out, std::string_view text);

// pidfd_open(2); -1 with errno set where the kernel has none.
int PidfdOpen(pid_t pid);

// The environment of a run: `base` (or, when null, the worker's whole environment) when
// spec.inherit_env, with spec.env added or replacing entries of the same name.
std::vector<std::string> BuildEnvironment(const RunSpec& spec,
                                          const std::vector<std::string>* base = nullptr);

// An output pipe: `read` is ours (O_CLOEXEC, O_NONBLOCK), `write` goes to the child.
struct OutputPipe {
  UniqueFd read;
  UniqueFd write;
};
[[nodiscard]] Result<OutputPipe> MakeOutputPipe();

// Runs every command under krond-guard (src/guard), which kills the command's process group
// once `watch_fd` (the read end of a pipe only the worker holds the write end of) reaches
// end of file: when the worker dies. Empty path: no guard. Requires: watch_fd > 4 (a child's
// descriptors 3 and 4 are set up from it and the script pipe).
struct Guard {
  std::string path;
  int watch_fd = -1;
  bool enabled() const { return !path.empty(); }
};

// posix_spawn of `program` in a new process group, with an empty signal mask and default
// dispositions, stdin from /dev/null, stdout and stderr on `output_fd`, `script_fd` (when
// >= 0) as descriptor 3, and no other descriptor; under `guard` when it is enabled (the
// returned pid is then the guard's, which exits as the command does). With `run_as`
// (EncodeCredentials; requires the guard) the guard switches the command to that user before
// exec. The child is registered as ours until WaitChild reaps it. Returns the pid or why it
// failed.
[[nodiscard]] Result<pid_t> Spawn(const std::string& program, std::vector<std::string>& argv,
                                  std::vector<std::string>& env, const std::string& cwd,
                                  int output_fd, int script_fd = -1, const Guard& guard = {},
                                  const std::string& run_as = {});

// waitpid(pid, status, options) for a child Spawn started, forgetting it once reaped; in one
// step, so that ReapOrphans never takes a child whose owner is about to wait for it.
pid_t WaitChild(pid_t pid, int* status, int options);

// Reaps every child of this process that has exited and that Spawn did not start: orphans
// of commands, reparented here when the process is a child subreaper or PID 1 (e.g. a
// daemon that escaped its run's process group with setsid). Returns how many. Thread-safe.
int ReapOrphans();

}  // namespace krond::exec::internal
