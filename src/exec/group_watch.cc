#include "exec/group_watch.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <vector>

namespace krond::exec::internal {
namespace {

// 262,144 records: a burst of 1,000 runs a second writes 2,000 a second, so only a watcher
// that has not read for minutes fills it. Linux's default limit for an unprivileged pipe.
constexpr int kPipeBytes = 1 << 20;
// How often the monitor looks at the watcher where the kernel has no pidfd_open.
constexpr int kRecheckMs = 1000;

bool WriteRecord(int fd, int32_t record) {
  const std::string bytes(reinterpret_cast<const char*>(&record), sizeof record);
  return WriteNoSigpipe(fd, bytes) == static_cast<ssize_t>(sizeof record);
}

// Whether `pid`, a child of ours, has exited; it is left to be reaped.
bool Exited(pid_t pid) {
  siginfo_t info{};
  return waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
         info.si_pid == pid;
}

}  // namespace

Result<GroupWatch::Watcher> GroupWatch::Launch(const std::string& guard_path) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    return MakeError("cannot create the group watcher's pipe: " + ErrnoText(errno));
  }
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);
  // Only our end: the watcher blocks in read. A smaller pipe than asked for (a lower
  // fs.pipe-max-size) only means a stopped watcher is replaced sooner.
  (void)fcntl(write_end.Get(), F_SETPIPE_SZ, kPipeBytes);
  if (fcntl(write_end.Get(), F_SETFL, O_NONBLOCK) != 0) {
    return MakeError("cannot set up the group watcher's pipe: " + ErrnoText(errno));
  }
  std::vector<std::string> argv = {guard_path, "--watch-groups", "3"};
  std::vector<std::string> env;
  // Its stderr is ours, for the message if it cannot run.
  Result<pid_t> pid = Spawn(guard_path, argv, env, "", STDERR_FILENO, read_end.Get());
  if (!pid) return tl::unexpected(pid.error());
  return Watcher{*pid, std::move(write_end)};
}

Result<std::unique_ptr<GroupWatch>> GroupWatch::Start(const std::string& guard_path) {
  UniqueFd stop(eventfd(0, EFD_CLOEXEC));
  if (!stop.Valid()) return MakeError("cannot create an eventfd: " + ErrnoText(errno));
  auto launched = Launch(guard_path);
  if (!launched) return tl::unexpected(launched.error());
  return std::unique_ptr<GroupWatch>(
      new GroupWatch(guard_path, std::move(*launched), std::move(stop)));
}

GroupWatch::GroupWatch(std::string guard_path, Watcher watcher, UniqueFd stop)
    : guard_path_(std::move(guard_path)), stop_(std::move(stop)), watcher_(std::move(watcher)) {
  monitor_ = std::thread([this] { Monitor(); });
}

GroupWatch::~GroupWatch() {
  // The monitor first: it would replace the watcher that closing the pipe ends.
  const uint64_t one = 1;
  (void)!write(stop_.Get(), &one, sizeof one);
  monitor_.join();
  std::lock_guard lock(mu_);
  watcher_.write.Reset();
  if (watcher_.pid > 0) WaitChild(watcher_.pid, nullptr, 0);
}

pid_t GroupWatch::watcher() const {
  std::lock_guard lock(mu_);
  return watcher_.pid;
}

Status GroupWatch::Watch(pid_t pgid) {
  std::lock_guard lock(mu_);
  watched_.insert(pgid);
  Status sent = Send(static_cast<int32_t>(pgid));
  if (!sent) watched_.erase(pgid);
  return sent;
}

void GroupWatch::Forget(pid_t pgid) {
  std::lock_guard lock(mu_);
  if (watched_.erase(pgid) == 0) return;
  // A watcher that misses this only kills a group that has ended, whose id the kernel has
  // not given out again in the meantime (that takes a full pid wrap-around).
  (void)Send(-static_cast<int32_t>(pgid));
}

Status GroupWatch::Send(int32_t record) {
  if (!watcher_.write.Valid()) return Replace("is not running");
  if (WriteRecord(watcher_.write.Get(), record)) return {};
  // Replace re-sends every watched group, so this record is not lost either way.
  if (errno == EPIPE) return Replace("died");
  if (errno == EAGAIN) return Replace("stopped reading");
  return MakeError("cannot write to the group watcher: " + ErrnoText(errno));
}

Status GroupWatch::Replace(const char* why) {
  if (watcher_.pid > 0) {
    std::fprintf(stderr, "krond exec: the group watcher (pid %d) %s; starting another\n",
                 static_cast<int>(watcher_.pid), why);
    // Killed before its pipe closes: a watcher that saw end of file would kill every group.
    kill(watcher_.pid, SIGKILL);
    WaitChild(watcher_.pid, nullptr, 0);
  }
  watcher_ = Watcher{};
  auto launched = Launch(guard_path_);
  if (!launched) return tl::unexpected(launched.error());
  watcher_ = std::move(*launched);
  for (pid_t pgid : watched_) {
    if (!WriteRecord(watcher_.write.Get(), static_cast<int32_t>(pgid))) {
      return MakeError("cannot write to the new group watcher: " + ErrnoText(errno));
    }
  }
  return {};
}

void GroupWatch::Monitor() {
  while (true) {
    pid_t seen = -1;
    UniqueFd pidfd;
    {
      std::lock_guard lock(mu_);
      // Until one runs, watched groups would outlive this process.
      if (watcher_.pid < 0) {
        if (Status started = Replace("is not running"); !started) {
          std::fprintf(stderr, "krond exec: no group watcher: %s\n",
                       started.error().message.c_str());
        }
      }
      seen = watcher_.pid;
      if (seen > 0) pidfd = UniqueFd(PidfdOpen(seen));
    }
    // poll skips a negative descriptor: without a pidfd, look again in a while.
    pollfd fds[2] = {{stop_.Get(), POLLIN, 0}, {pidfd.Get(), POLLIN, 0}};
    const int ready = poll(fds, 2, pidfd.Valid() ? -1 : kRecheckMs);
    if (ready < 0 && errno != EINTR) {
      // Not expected with two valid descriptors; a dead watcher is then noticed by Send.
      std::fprintf(stderr, "krond exec: group watcher monitor stops: poll: %s\n",
                   ErrnoText(errno).c_str());
      return;
    }
    if ((fds[0].revents & POLLIN) != 0) return;
    std::lock_guard lock(mu_);
    // Send may have replaced it in the meantime; a watcher it started is not `seen`.
    if (seen > 0 && watcher_.pid == seen && Exited(seen)) (void)Replace("died");
  }
}

}  // namespace krond::exec::internal
