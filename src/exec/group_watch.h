#pragma once

#include <sys/types.h>

#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "common/result.h"
#include "exec/spawn.h"

namespace krond::exec::internal {

// One `krond-guard --watch-groups` for a worker's warm shells: it SIGKILLs every process
// group it watches as soon as this process dies, however it dies, as a guard per run does
// for its one group (src/guard/krond_guard.cc). A shell is watched from when it is started
// until its group has ended (its leader reaped, the rest of the group killed), so a group
// id the watcher kills is never one the kernel could have given to another process.
//
// If the watcher dies (someone killed it), the next Watch or Forget starts another one and
// hands it every group still watched; Watch fails only when no watcher can be started, and
// the caller then must not use the shell. Writes block: a watcher stopped (SIGSTOP) for
// long enough to leave 16,384 records unread (a 64 KiB pipe) holds up the pool and the end
// of runs until it reads again. Thread-safe.
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
  GroupWatch(std::string guard_path, pid_t watcher, UniqueFd write);
  // Writes one record; on a dead watcher, starts another with every watched group.
  Status Send(int32_t record);  // with mu_ held
  Status Restart();             // with mu_ held
  static Result<std::pair<pid_t, UniqueFd>> Launch(const std::string& guard_path);

  const std::string guard_path_;
  mutable std::mutex mu_;
  pid_t watcher_;            // guarded by mu_
  UniqueFd write_;           // guarded by mu_
  std::set<pid_t> watched_;  // guarded by mu_
};

}  // namespace krond::exec::internal
