#pragma once

#include <sys/types.h>

#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "common/result.h"
#include "exec/spawn.h"

namespace krond::exec::internal {

// One `krond-guard --watch-groups` for a worker's warm shells: it SIGKILLs every process
// group it watches as soon as this process dies, however it dies, as a guard per run does
// for its one group (src/guard/krond_guard.cc). A shell is watched from when it is started
// until its group has ended (its leader reaped, the rest of the group killed), so a group
// id the watcher kills is never one the kernel could have given to another process.
//
// A watcher that dies (someone killed it) is replaced at once by a thread that waits for its
// exit, and the new one is handed every group still watched. One that stops reading
// (SIGSTOP, or starved of CPU) while 262,144 records (a 1 MiB pipe) wait is SIGKILLed, so
// that it kills nothing, and replaced the same way by the Watch or Forget that found the pipe
// full: writes never block. Watch fails only when no watcher can be started, and the caller
// then must not use the shell. Thread-safe.
class GroupWatch {
 public:
  // Starts the watcher, `guard_path --watch-groups 3`.
  static Result<std::unique_ptr<GroupWatch>> Start(const std::string& guard_path);
  // Closes the pipe, so the watcher kills what is still watched and exits, and reaps it.
  ~GroupWatch();
  GroupWatch(const GroupWatch&) = delete;
  GroupWatch& operator=(const GroupWatch&) = delete;

  [[nodiscard]] Status Watch(pid_t pgid);
  // After the group's leader was reaped and the rest of the group killed. Groups never
  // watched are ignored.
  void Forget(pid_t pgid);

  // The watcher's pid now (for tests).
  pid_t watcher() const;

 private:
  struct Watcher {
    pid_t pid = -1;
    UniqueFd write;  // O_NONBLOCK
  };
  GroupWatch(std::string guard_path, Watcher watcher, UniqueFd stop);
  static Result<Watcher> Launch(const std::string& guard_path);
  // Writes one record; when the watcher is dead or not reading, replaces it.
  Status Send(int32_t record);  // with mu_ held
  // SIGKILLs and reaps the watcher (`why` it goes, for the log), starts another and hands it
  // every watched group.
  Status Replace(const char* why);  // with mu_ held
  // The monitor thread: replaces a watcher that ended, until stop_ is signalled.
  void Monitor();

  const std::string guard_path_;
  const UniqueFd stop_;  // an eventfd
  mutable std::mutex mu_;
  Watcher watcher_;          // guarded by mu_; pid -1 when none could be started
  std::set<pid_t> watched_;  // guarded by mu_
  std::thread monitor_;
};

}  // namespace krond::exec::internal
