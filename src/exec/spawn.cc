#include "exec/spawn.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <mutex>
#include <string_view>
#include <system_error>
#include <unordered_set>

extern char** environ;

namespace krond::exec::internal {
namespace {

// Script descriptor of a warm shell (see WarmShellPool).
constexpr int kScriptFd = 3;
// Where krond-guard finds the pipe it watches: the first descriptor after the script's, so
// that the command inherits exactly what it would without the guard.
int GuardWatchFd(int script_fd) { return script_fd >= 0 ? kScriptFd + 1 : kScriptFd; }

// The children Spawn started and their owners have not reaped yet. A child may exit before
// Spawn returns its pid: while any spawn is under way, ReapOrphans takes nothing.
struct ChildRegistry {
  std::mutex mu;
  std::unordered_set<pid_t> children;  // guarded by mu
  int spawning = 0;                    // guarded by mu
};
ChildRegistry& Children() {
  static ChildRegistry registry;
  return registry;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

}  // namespace

void UniqueFd::Reset() {
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
}

std::string ErrnoText(int err) { return std::generic_category().message(err); }

void AppendShellQuoted(std::string& out, std::string_view text) {
  out += '\'';
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  out += '\'';
}

int PidfdOpen(pid_t pid) {
#ifdef SYS_pidfd_open
  return static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
#else
  (void)pid;
  errno = ENOSYS;
  return -1;
#endif
}

std::vector<std::string> BuildEnvironment(const RunSpec& spec,
                                          const std::vector<std::string>* base) {
  std::vector<std::string> env;
  auto overridden = [&spec](std::string_view entry) {
    const std::string_view name = entry.substr(0, entry.find('='));
    return std::any_of(spec.env.begin(), spec.env.end(),
                       [name](const auto& var) { return var.first == name; });
  };
  if (spec.inherit_env && base != nullptr) {
    for (const std::string& entry : *base) {
      if (!overridden(entry)) env.push_back(entry);
    }
  } else if (spec.inherit_env) {
    for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
      if (!overridden(*entry)) env.emplace_back(*entry);
    }
  }
  for (const auto& [name, value] : spec.env) env.push_back(name + "=" + value);
  return env;
}

Result<OutputPipe> MakeOutputPipe() {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0)
    return MakeError("cannot create output pipe: " + ErrnoText(errno));
  OutputPipe pipe{UniqueFd(fds[0]), UniqueFd(fds[1])};
  // Only our end is non-blocking: the status flag lives in the open file description, and
  // the write end's description is shared with the child, which must see ordinary writes.
  if (fcntl(pipe.read.Get(), F_SETFL, O_NONBLOCK) != 0) {
    return MakeError("cannot configure output pipe: " + ErrnoText(errno));
  }
  return pipe;
}

Result<pid_t> Spawn(const std::string& program, std::vector<std::string>& argv,
                    std::vector<std::string>& env, const std::string& cwd, int output_fd,
                    int script_fd, const Guard& guard, const std::string& run_as) {
  // Without the guard nothing between posix_spawn and exec could drop privileges.
  if (!run_as.empty() && !guard.enabled()) {
    return MakeError("running as another user needs krond-guard (--run-guard)");
  }
  std::vector<std::string> guarded;
  if (guard.enabled()) {
    guarded.reserve(argv.size() + 4);
    guarded = {guard.path};
    if (!run_as.empty()) guarded.push_back("--as=" + run_as);
    guarded.insert(guarded.end(), {std::to_string(GuardWatchFd(script_fd)), program});
    guarded.insert(guarded.end(), argv.begin(), argv.end());
  }
  std::vector<std::string>& exec_argv = guard.enabled() ? guarded : argv;
  const std::string& exec_program = guard.enabled() ? guard.path : program;
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  if (int err = posix_spawn_file_actions_init(&actions); err != 0) {
    return MakeError(ErrnoText(err));
  }
  if (int err = posix_spawnattr_init(&attr); err != 0) {
    posix_spawn_file_actions_destroy(&actions);
    return MakeError(ErrnoText(err));
  }
  sigset_t empty;
  sigset_t all;
  sigemptyset(&empty);
  sigfillset(&all);
  int err = 0;
  auto check = [&err](int result) {
    if (err == 0) err = result;
  };
  check(posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0));
  check(posix_spawn_file_actions_adddup2(&actions, output_fd, STDOUT_FILENO));
  check(posix_spawn_file_actions_adddup2(&actions, output_fd, STDERR_FILENO));
  // dup2 onto itself clears O_CLOEXEC (glibc >= 2.29 follows POSIX 2017 here).
  if (script_fd >= 0) check(posix_spawn_file_actions_adddup2(&actions, script_fd, kScriptFd));
  if (guard.enabled()) {
    check(posix_spawn_file_actions_adddup2(&actions, guard.watch_fd, GuardWatchFd(script_fd)));
  }
  // Our pipe ends are O_CLOEXEC already; this also drops descriptors that other threads of
  // the worker opened without O_CLOEXEC.
  const int keep = guard.enabled()  ? GuardWatchFd(script_fd)
                   : script_fd >= 0 ? kScriptFd
                                    : STDERR_FILENO;
  check(posix_spawn_file_actions_addclosefrom_np(&actions, keep + 1));
  if (!cwd.empty()) check(posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str()));
  check(posix_spawnattr_setflags(
      &attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF));
  check(posix_spawnattr_setpgroup(&attr, 0));
  check(posix_spawnattr_setsigmask(&attr, &empty));
  check(posix_spawnattr_setsigdefault(&attr, &all));
  pid_t pid = 0;
  if (err == 0) {
    std::vector<char*> c_argv = CStrings(exec_argv);
    std::vector<char*> c_env = CStrings(env);
    ChildRegistry& registry = Children();
    {
      std::lock_guard lock(registry.mu);
      ++registry.spawning;
    }
    err = posix_spawn(&pid, exec_program.c_str(), &actions, &attr, c_argv.data(), c_env.data());
    std::lock_guard lock(registry.mu);
    --registry.spawning;
    if (err == 0) registry.children.insert(pid);
  }
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) return MakeError(ErrnoText(err));
  return pid;
}

pid_t WaitChild(pid_t pid, int* status, int options) {
  ChildRegistry& registry = Children();
  // Waiting under the lock is cheap: callers block in poll (pidfd) or pass WNOHANG, and a
  // blocking waitpid here is only for a child already known to have exited.
  std::lock_guard lock(registry.mu);
  pid_t reaped;
  do {
    reaped = waitpid(pid, status, options);
  } while (reaped < 0 && errno == EINTR);
  if (reaped == pid) registry.children.erase(pid);
  return reaped;
}

int ReapOrphans() {
  ChildRegistry& registry = Children();
  int reaped = 0;
  while (true) {
    // WNOWAIT: look at an exited child without reaping it, in case it is a registered one.
    siginfo_t info{};
    if (waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT) != 0 || info.si_pid == 0) break;
    std::lock_guard lock(registry.mu);
    // Its owner reaps a registered child within milliseconds; the next sweep sees the rest.
    if (registry.spawning > 0 || registry.children.count(info.si_pid) != 0) break;
    if (waitpid(info.si_pid, nullptr, WNOHANG) == info.si_pid) ++reaped;
  }
  return reaped;
}

ssize_t WriteNoSigpipe(int fd, const std::string& data) {
  sigset_t pipe_only;
  sigset_t old;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_only, &old);
  ssize_t n;
  do {
    n = write(fd, data.data(), data.size());
  } while (n < 0 && errno == EINTR);
  const int saved = errno;
  if (n < 0 && errno == EPIPE) {
    const timespec zero{0, 0};
    while (sigtimedwait(&pipe_only, nullptr, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  errno = saved;
  return n;
}

}  // namespace krond::exec::internal
