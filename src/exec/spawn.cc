#include "exec/spawn.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string_view>
#include <system_error>

extern char** environ;

namespace krond::exec::internal {
namespace {

// Script descriptor of a warm shell (see WarmShellPool).
constexpr int kScriptFd = 3;

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

std::vector<std::string> BuildEnvironment(const RunSpec& spec) {
  std::vector<std::string> env;
  auto overridden = [&spec](std::string_view entry) {
    const std::string_view name = entry.substr(0, entry.find('='));
    return std::any_of(spec.env.begin(), spec.env.end(),
                       [name](const auto& var) { return var.first == name; });
  };
  if (spec.inherit_env) {
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
                    int script_fd) {
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
  // Our pipe ends are O_CLOEXEC already; this also drops descriptors that other threads of
  // the worker opened without O_CLOEXEC.
  check(posix_spawn_file_actions_addclosefrom_np(
      &actions, script_fd >= 0 ? kScriptFd + 1 : STDERR_FILENO + 1));
  if (!cwd.empty()) check(posix_spawn_file_actions_addchdir_np(&actions, cwd.c_str()));
  check(posix_spawnattr_setflags(
      &attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF));
  check(posix_spawnattr_setpgroup(&attr, 0));
  check(posix_spawnattr_setsigmask(&attr, &empty));
  check(posix_spawnattr_setsigdefault(&attr, &all));
  pid_t pid = 0;
  if (err == 0) {
    std::vector<char*> c_argv = CStrings(argv);
    std::vector<char*> c_env = CStrings(env);
    err = posix_spawn(&pid, program.c_str(), &actions, &attr, c_argv.data(), c_env.data());
  }
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) return MakeError(ErrnoText(err));
  return pid;
}

}  // namespace krond::exec::internal
