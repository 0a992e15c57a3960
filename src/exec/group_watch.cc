#include "exec/group_watch.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <vector>

namespace krond::exec::internal {
namespace {

bool WriteRecord(int fd, int32_t record) {
  const std::string bytes(reinterpret_cast<const char*>(&record), sizeof record);
  return WriteNoSigpipe(fd, bytes) == static_cast<ssize_t>(sizeof record);
}

}  // namespace

Result<std::pair<pid_t, UniqueFd>> GroupWatch::Launch(const std::string& guard_path) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    return MakeError("cannot create the group watcher's pipe: " + ErrnoText(errno));
  }
  UniqueFd read_end(fds[0]);
  UniqueFd write_end(fds[1]);
  std::vector<std::string> argv = {guard_path, "--watch-groups", "3"};
  std::vector<std::string> env;
  // Its stderr is ours, for the message if it cannot run.
  Result<pid_t> pid = Spawn(guard_path, argv, env, "", STDERR_FILENO, read_end.Get());
  if (!pid) return tl::unexpected(pid.error());
  return std::make_pair(*pid, std::move(write_end));
}

Result<std::unique_ptr<GroupWatch>> GroupWatch::Start(const std::string& guard_path) {
  auto launched = Launch(guard_path);
  if (!launched) return tl::unexpected(launched.error());
  return std::unique_ptr<GroupWatch>(
      new GroupWatch(guard_path, launched->first, std::move(launched->second)));
}

GroupWatch::GroupWatch(std::string guard_path, pid_t watcher, UniqueFd write)
    : guard_path_(std::move(guard_path)), watcher_(watcher), write_(std::move(write)) {}

GroupWatch::~GroupWatch() {
  std::lock_guard lock(mu_);
  write_.Reset();
  WaitChild(watcher_, nullptr, 0);
}

pid_t GroupWatch::watcher() const {
  std::lock_guard lock(mu_);
  return watcher_;
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
  if (WriteRecord(write_.Get(), record)) return {};
  if (errno != EPIPE) return MakeError("cannot write to the group watcher: " + ErrnoText(errno));
  // The watcher is gone: until another one runs, watched groups would outlive this process.
  std::fprintf(stderr, "krond exec: the group watcher (pid %d) died; starting another\n",
               static_cast<int>(watcher_));
  return Restart();
}

Status GroupWatch::Restart() {
  write_.Reset();
  WaitChild(watcher_, nullptr, 0);
  auto launched = Launch(guard_path_);
  if (!launched) return tl::unexpected(launched.error());
  watcher_ = launched->first;
  write_ = std::move(launched->second);
  // One write per group; at 4 bytes a record, a pipe holds thousands the watcher has not
  // read yet.
  for (pid_t pgid : watched_) {
    if (!WriteRecord(write_.Get(), static_cast<int32_t>(pgid))) {
      return MakeError("cannot write to the new group watcher: " + ErrnoText(errno));
    }
  }
  return {};
}

}  // namespace krond::exec::internal
