// krond-guard [--as=UID:GID:GROUPS] WATCH_FD PROGRAM ARG0 [ARGS...]
//
// Runs PROGRAM (with argv ARG0 ARGS...) as its child and exits as the child did (its exit
// code, or the same signal), and kills its whole process group with SIGKILL as soon as
// WATCH_FD reaches end of file. ProcessExecutor passes the read end of a pipe whose write
// end only the worker process holds: when the worker dies, however it dies, the kernel
// closes that end and every command it started is killed within milliseconds, so a run
// redelivered to another worker never runs twice at once (issue 19).
//
// Why a pipe rather than PR_SET_PDEATHSIG: the death signal fires when the *thread* that
// forked exits, and workers start commands from slot threads, the poll thread and the warm
// shell pool's refill thread; a pipe end belongs to the process. Why a parent rather than
// exec: PR_SET_PDEATHSIG (or anything set before exec) reaches the command alone, not the
// processes it starts; the guard kills the process group, which is what the executor
// already treats as the run.
//
// The guard leads the run's process group (posix_spawn made it so); the command inherits the
// group, default signal dispositions and an empty mask, and every descriptor but WATCH_FD.
// The guard ignores SIGTERM, SIGINT, SIGHUP and SIGQUIT, which the executor sends to the
// group to stop a run: the command decides how to stop, and the guard follows it. One that
// arrives before the command exists is passed on to it. Its own
// stdin, stdout and stderr are closed once the command runs, so output pipes see end of
// file when the command's side closes them.
//
// With --as (GROUPS: comma-separated gids, possibly none), the command runs as that user: the
// child calls setgroups, setgid and setuid, in that order (the first two need the privilege
// the last one gives up), checks each, and checks that the switch cannot be undone
// (setuid(0) must fail) before it execs; any failure ends the child with 125 and nothing
// runs. The ids come resolved from the worker: this static binary has no NSS, so it cannot
// call initgroups(3) itself, and the worker's getgrouplist gives the same list.
//
// Exit status 125 with a message on stderr: the guard itself failed (bad usage, fork or exec
// failed); the executor reports that as the run's failure.
//
// krond-guard --watch-groups FD
//
// One watcher for many process groups, instead of a guard process per run: the warm shell
// pool's shells are started without a guard and each one's process group is written to FD,
// a pipe whose write end only the worker process holds, as a native int32 (a pgid to watch,
// or its negation once the worker has reaped that group's leader and ended the group).
// When FD reaches end of file, however the worker died, the watcher SIGKILLs every group
// still watched and exits 0. A run in a warm shell then costs one process (the shell) at its
// instant instead of two (the shell and its guard), which halves what a burst of runs asks
// of a small host's cores (docs/benchmarks.md, "On-time starts").
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unordered_set>
#include <vector>

namespace {

constexpr int kGuardFailed = 125;

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "krond-guard: %s: %s\n", what, std::strerror(errno));
  std::_Exit(kGuardFailed);
}

// Ends the guard the way the command ended, so the executor sees the command's status.
[[noreturn]] void ExitLike(int status) {
  if (WIFEXITED(status)) std::_Exit(WEXITSTATUS(status));
  const int sig = WTERMSIG(status);
  // No core file of the guard for a command that dumped one.
  const rlimit no_core{0, 0};
  setrlimit(RLIMIT_CORE, &no_core);
  signal(sig, SIG_DFL);
  sigset_t only;
  sigemptyset(&only);
  sigaddset(&only, sig);
  sigprocmask(SIG_UNBLOCK, &only, nullptr);
  kill(getpid(), sig);
  std::_Exit(128 + sig);  // a signal that does not terminate (it cannot happen for a status)
}

// The user a command runs as (--as).
struct RunAs {
  bool set = false;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;
};

// Parses one decimal id up to `stop`; false if there is none or it does not fit.
bool ParseId(const char*& p, char stop, unsigned long& out) {
  char* end = nullptr;
  errno = 0;
  out = std::strtoul(p, &end, 10);
  if (end == p || errno != 0 || out > 0xfffffffeUL || (*end != stop && *end != '\0')) {
    return false;
  }
  p = end;
  return true;
}

// "UID:GID:G1,G2,..." (the groups may be empty).
bool ParseRunAs(const char* text, RunAs& out) {
  unsigned long id = 0;
  const char* p = text;
  if (!ParseId(p, ':', id) || *p++ != ':') return false;
  out.uid = static_cast<uid_t>(id);
  if (!ParseId(p, ':', id) || *p++ != ':') return false;
  out.gid = static_cast<gid_t>(id);
  while (*p != '\0') {
    if (!ParseId(p, ',', id)) return false;
    out.groups.push_back(static_cast<gid_t>(id));
    if (*p == ',') ++p;
  }
  out.set = true;
  return true;
}

// Becomes `user` for good, in the child before exec; exits 125 rather than run the command
// as anyone else.
void SwitchUser(const RunAs& user) {
  if (setgroups(user.groups.size(), user.groups.data()) != 0) Fail("setgroups");
  if (setgid(user.gid) != 0) Fail("setgid");
  if (setuid(user.uid) != 0) Fail("setuid");
  if (getuid() != user.uid || geteuid() != user.uid || getgid() != user.gid ||
      getegid() != user.gid) {
    errno = EPERM;
    Fail("user switch incomplete");
  }
  // setuid(2) from root sets the saved set-user-ID too; a way back to root would mean it did
  // not (or that the target is root itself, which then is no switch worth checking).
  if (user.uid != 0 && setuid(0) == 0) {
    errno = EPERM;
    Fail("setuid(0) succeeded after dropping privileges");
  }
}

// Parses a descriptor argument; -1 if it is not a number or not open.
int OpenDescriptor(const char* text) {
  char* end = nullptr;
  const long fd = std::strtol(text, &end, 10);
  if (end == text || *end != '\0' || fd < 0 || fd > 0x7fffffff ||
      fcntl(static_cast<int>(fd), F_GETFD) < 0) {
    std::fprintf(stderr, "krond-guard: %s is not an open descriptor\n", text);
    return -1;
  }
  return static_cast<int>(fd);
}

// How long the watcher sleeps between reads, in nanoseconds.
constexpr long kWatchGather = 10'000'000;

// --watch-groups: reads records until end of file, then kills what is still watched.
int WatchGroups(int fd) {
  // The stop signals a terminal or a supervisor sends are the worker's to act on; the
  // watcher ends when the worker does.
  for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGPIPE}) signal(sig, SIG_IGN);
  std::unordered_set<int32_t> watched;
  // A multiple of the record size, and each record is one atomic pipe write, so reads end
  // on record boundaries; `have` carries a partial one all the same.
  char buffer[4096];
  std::size_t have = 0;
  while (true) {
    const ssize_t n = read(fd, buffer + have, sizeof buffer - have);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // end of file (or an error): the worker is gone
    have += static_cast<std::size_t>(n);
    std::size_t at = 0;
    for (; at + sizeof(int32_t) <= have; at += sizeof(int32_t)) {
      int32_t record = 0;
      std::memcpy(&record, buffer + at, sizeof record);
      if (record > 0) {
        watched.insert(record);
      } else if (record < 0) {
        watched.erase(-record);
      }
    }
    std::memmove(buffer, buffer + at, have - at);
    have -= at;
    // Records come two per run, in bursts; a watcher blocked in read would be woken by each
    // write, a context switch per record on the worker's cores. Sleeping between reads
    // gathers a burst's records into one read, and delays the kills by at most this much.
    const timespec gather{0, kWatchGather};
    nanosleep(&gather, nullptr);
  }
  for (int32_t pgid : watched) kill(-pgid, SIGKILL);
  return 0;
}

// The stop signals the executor sends a run's group: the command's business.
constexpr int kStopSignals[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT};

// SIGCHLD is read from a signalfd (returned); the stop signals are blocked, not ignored,
// until the command exists: one that arrives before the fork reached no command, and is
// passed on to it (ignoring it lost a stop request sent right after the run began, and the
// run then needed SIGKILL). `old_mask` is what the command gets back.
int BlockSignals(sigset_t& old_mask) {
  sigset_t chld;
  sigemptyset(&chld);
  sigaddset(&chld, SIGCHLD);
  sigset_t blocked = chld;
  for (int sig : kStopSignals) sigaddset(&blocked, sig);
  if (sigprocmask(SIG_BLOCK, &blocked, &old_mask) != 0) Fail("sigprocmask");
  const int chld_fd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
  if (chld_fd < 0) Fail("signalfd");
  return chld_fd;
}

// Forks the command: `argv` is PROGRAM ARG0 [ARGS...]. The child gets the signal mask back,
// drops WATCH_FD and switches user before exec.
pid_t ForkCommand(char** argv, int watch_fd, const RunAs& run_as, const sigset_t& old_mask) {
  const pid_t child = fork();
  if (child < 0) Fail("fork");
  if (child == 0) {
    sigprocmask(SIG_SETMASK, &old_mask, nullptr);
    close(watch_fd);
    if (run_as.set) SwitchUser(run_as);
    execv(argv[0], argv + 1);
    std::fprintf(stderr, "krond-guard: cannot execute %s: %s\n", argv[0], std::strerror(errno));
    std::_Exit(127);
  }
  return child;
}

// A stop signal pending here came before the fork (so the command missed it) or after (so the
// command got it too): passed on either way; a second copy of a signal the command is already
// acting on does no harm. From now on the group's signals reach the command directly, and
// the guard ignores its own copies.
void PassOnStopSignals(pid_t child) {
  sigset_t pending;
  sigemptyset(&pending);
  sigpending(&pending);
  for (int sig : kStopSignals) {
    if (sigismember(&pending, sig) == 1) kill(child, sig);
  }
  sigset_t stop;
  sigemptyset(&stop);
  for (int sig : kStopSignals) {
    signal(sig, SIG_IGN);
    sigaddset(&stop, sig);
  }
  sigprocmask(SIG_UNBLOCK, &stop, nullptr);
}

// The output pipe must reach end of file when the command's side closes, not when the guard
// exits too; the guard writes nothing more.
void LetGoOfDescriptors(int watch_fd) {
  const int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null_fd >= 0) {
    for (int fd = 0; fd <= 2; ++fd) dup2(null_fd, fd);
    if (null_fd > 2) close(null_fd);
  }
  for (int fd = 3; fd < watch_fd; ++fd) close(fd);  // e.g. a warm shell's script pipe
}

// Exits like the command once it ends; kills its group, and the guard, once the worker goes.
[[noreturn]] void WaitForCommandOrWorker(int watch_fd, int chld_fd, pid_t child) {
  while (true) {
    pollfd fds[2] = {{watch_fd, POLLIN, 0}, {chld_fd, POLLIN, 0}};
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents != 0) {
      signalfd_siginfo info;
      while (read(chld_fd, &info, sizeof info) > 0) {
      }
      int status = 0;
      const pid_t reaped = waitpid(child, &status, WNOHANG);
      if (reaped == child) ExitLike(status);
    }
    if (fds[0].revents != 0) break;  // end of file (or an error): the worker is gone
  }
  // Nothing may outlive the worker: the command, whatever it started in its group, and the
  // guard with them.
  kill(0, SIGKILL);
  std::_Exit(kGuardFailed);
}

// krond-guard [--as=UID:GID:GROUPS] WATCH_FD PROGRAM ARG0 [ARGS...]
int GuardCommand(int argc, char** argv) {
  RunAs run_as;
  if (argc > 1 && std::strncmp(argv[1], "--as=", 5) == 0) {
    if (!ParseRunAs(argv[1] + 5, run_as)) {
      std::fprintf(stderr, "krond-guard: bad %s (expected --as=UID:GID:GROUPS)\n", argv[1]);
      return kGuardFailed;
    }
    --argc;
    ++argv;
  }
  if (argc < 4) {
    std::fprintf(stderr,
                 "usage: krond-guard [--as=UID:GID:GROUPS] WATCH_FD PROGRAM ARG0 [ARGS...]\n"
                 "       krond-guard --watch-groups FD\n");
    return kGuardFailed;
  }
  const int watch_fd = OpenDescriptor(argv[1]);
  if (watch_fd < 0) return kGuardFailed;
  sigset_t old_mask;
  const int chld_fd = BlockSignals(old_mask);
  // The worker may already be gone (it died between the spawn and now).
  pollfd early{watch_fd, POLLIN, 0};
  if (poll(&early, 1, 0) > 0) return kGuardFailed;
  const pid_t child = ForkCommand(argv + 2, watch_fd, run_as, old_mask);
  PassOnStopSignals(child);
  LetGoOfDescriptors(watch_fd);
  WaitForCommandOrWorker(watch_fd, chld_fd, child);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "--watch-groups") == 0) {
    if (argc != 3) {
      std::fprintf(stderr, "usage: krond-guard --watch-groups FD\n");
      return kGuardFailed;
    }
    const int fd = OpenDescriptor(argv[2]);
    return fd < 0 ? kGuardFailed : WatchGroups(fd);
  }
  return GuardCommand(argc, argv);
}
