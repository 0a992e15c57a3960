#include "exec/process_executor.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string_view>
#include <system_error>
#include <utility>

#include "exec/output_tail.h"
#include "exec/run_as.h"
#include "exec/spawn.h"

namespace krond::exec {
namespace {

using internal::ErrnoText;
using internal::UniqueFd;
using std::chrono::milliseconds;

constexpr std::size_t kReadChunkBytes = 64 * 1024;
// Without a pidfd, child exit is noticed by polling waitpid(WNOHANG) this often.
constexpr milliseconds kWaitpidPollInterval{10};
// Without a cancel eventfd, the token is polled this often.
constexpr milliseconds kCancelPollInterval{50};
constexpr std::string_view kDefaultPath = "/usr/local/bin:/usr/bin:/bin";

// 0 if `path` is a regular file we may execute, else an errno.
int CheckExecutable(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return errno;
  if (!S_ISREG(st.st_mode)) return EACCES;
  return access(path.c_str(), X_OK) == 0 ? 0 : errno;
}

// Finds the file posix_spawn should execute for argv[0], so that "no such program" is
// reported as kSpawnFailed even when prlimit(1) would be the one to exec it (it would exit
// 127, indistinguishable from a shell's "command not found"). A program removed between
// this check and the exec still fails, as an exit status from prlimit(1) or as an errno from
// posix_spawn.
Result<std::string> ResolveProgram(const std::string& name, const std::string& cwd) {
  if (name.find('/') != std::string::npos) {
    const std::string checked = (name[0] != '/' && !cwd.empty()) ? cwd + "/" + name : name;
    if (int err = CheckExecutable(checked); err != 0)
      return MakeError(name + ": " + ErrnoText(err));
    return name;
  }
  const char* path_env = std::getenv("PATH");
  std::string_view path = path_env != nullptr ? path_env : kDefaultPath;
  while (true) {
    const std::size_t colon = path.find(':');
    std::string_view dir = path.substr(0, colon);
    if (dir.empty()) dir = ".";
    std::string candidate = std::string(dir) + "/" + name;
    if (CheckExecutable(candidate) == 0) return candidate;
    if (colon == std::string_view::npos) break;
    path.remove_prefix(colon + 1);
  }
  return MakeError(name + ": command not found in PATH");
}

// One prlimit(1) option. Values above the worker's own hard limit are clamped to it:
// prlimit(1) would otherwise fail with EPERM (when unprivileged) and the failure would look
// like the command's exit status 1.
std::string LimitArg(std::string_view option, int resource, std::uint64_t soft,
                     std::uint64_t hard) {
  struct rlimit current {};
  if (getrlimit(resource, &current) == 0 && current.rlim_max != RLIM_INFINITY) {
    soft = std::min<std::uint64_t>(soft, current.rlim_max);
    hard = std::min<std::uint64_t>(hard, current.rlim_max);
  }
  return std::string(option) + "=" + std::to_string(soft) + ":" + std::to_string(hard);
}

int PollTimeoutMs(MonoTime now, std::optional<MonoTime> wake) {
  if (!wake) return -1;
  if (*wake <= now) return 0;
  const auto ms = std::chrono::ceil<milliseconds>(*wake - now).count();
  return static_cast<int>(std::min<decltype(ms)>(ms, INT_MAX));
}

void Earliest(std::optional<MonoTime>& wake, MonoTime t) {
  if (!wake || t < *wake) wake = t;
}

// Signals the command's process group, or the command alone if it has moved itself to
// another group (a shell with job control): the command is not reaped yet, so its pid is
// still ours either way.
void SignalGroup(pid_t pid, int signal) {
  if (kill(-pid, signal) != 0 && errno == ESRCH) kill(pid, signal);
}

// Reaps members of process group `pgid` that are our children, which orphans of the group
// are only when the worker is a child subreaper (or PID 1). Returns true once none is left.
bool ReapGroup(pid_t pgid) {
  while (true) {
    const pid_t reaped = waitpid(-pgid, nullptr, WNOHANG);
    if (reaped > 0) continue;
    if (reaped < 0 && errno == EINTR) continue;
    return reaped < 0;  // ECHILD: no child of ours left in the group.
  }
}

}  // namespace

Status ProcessExecutor::BecomeChildSubreaper() {
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0) {
    return MakeError("prctl(PR_SET_CHILD_SUBREAPER): " + ErrnoText(errno));
  }
  return {};
}

ProcessExecutor::ProcessExecutor(const Clock& clock, ProcessExecutorOptions options)
    : clock_(clock), options_(std::move(options)) {
  if (!options_.guard_path.empty()) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
      std::perror("krond exec: pipe2 for krond-guard");
      std::abort();
    }
    // Above the descriptors a child gets (0-4): Spawn's dup2 into 3 must not clobber it.
    guard_read_ = UniqueFd(fcntl(fds[0], F_DUPFD_CLOEXEC, 10));
    guard_write_ = UniqueFd(fds[1]);
    close(fds[0]);
    if (!guard_read_.Valid()) {
      std::perror("krond exec: fcntl for krond-guard");
      std::abort();
    }
    guard_ = internal::Guard{options_.guard_path, guard_read_.Get()};
  }
  if (options_.warm_shells > 0) {
    std::optional<Credentials> user;
    if (!options_.warm_shell_user.empty()) {
      Result<Credentials> found = LookupUser(options_.warm_shell_user);
      if (found) {
        user = std::move(*found);
      } else {
        std::fprintf(stderr, "krond exec: no warm shells: %s\n", found.error().message.c_str());
      }
    }
    // Shells of the worker's own user are watched by one krond-guard for the pool instead of
    // each under its own, so a run in one is a single process at its instant; switching to
    // another user is the per-run guard's job.
    internal::Guard shell_guard = guard_;
    if (guard_.enabled() && !user) {
      Result<std::unique_ptr<internal::GroupWatch>> watch =
          internal::GroupWatch::Start(options_.guard_path);
      if (watch) {
        group_watch_ = std::move(*watch);
        shell_guard = {};
      } else {
        std::fprintf(stderr, "krond exec: warm shells each under krond-guard: %s\n",
                     watch.error().message.c_str());
      }
    }
    if (options_.warm_shell_user.empty() || user) {
      pool_ =
          std::make_unique<WarmShellPool>(options_.warm_shells, shell_guard, options_.environment,
                                          std::move(user), group_watch_.get());
    }
  }
  if (options_.reap_orphans) {
    if (Status ok = BecomeChildSubreaper(); !ok) {
      std::fprintf(stderr, "krond exec: %s\n", ok.error().message.c_str());
    }
    reaper_ = std::thread([this] { ReapLoop(); });
  }
}

ProcessExecutor::~ProcessExecutor() {
  {
    std::lock_guard lock(reap_mu_);
    reap_stop_ = true;
  }
  reap_wake_.notify_all();
  if (reaper_.joinable()) reaper_.join();
}

void ProcessExecutor::ReapLoop() {
  std::unique_lock lock(reap_mu_);
  while (!reap_wake_.wait_for(lock, options_.reap_interval, [this] { return reap_stop_; })) {
    lock.unlock();
    internal::ReapOrphans();
    lock.lock();
  }
}

std::vector<std::string> ProcessExecutor::EffectiveArgv(const RunSpec& spec) const {
  const ResourceLimits& limits = spec.limits;
  if (limits.Empty()) return spec.argv;
  std::vector<std::string> argv = {options_.prlimit_path};
  if (limits.cpu_seconds) {
    argv.push_back(LimitArg("--cpu", RLIMIT_CPU, *limits.cpu_seconds, *limits.cpu_seconds + 1));
  }
  if (limits.address_space_bytes) {
    argv.push_back(
        LimitArg("--as", RLIMIT_AS, *limits.address_space_bytes, *limits.address_space_bytes));
  }
  if (limits.open_files) {
    argv.push_back(LimitArg("--nofile", RLIMIT_NOFILE, *limits.open_files, *limits.open_files));
  }
  if (limits.processes) {
    argv.push_back(LimitArg("--nproc", RLIMIT_NPROC, *limits.processes, *limits.processes));
  }
  if (limits.file_size_bytes) {
    argv.push_back(
        LimitArg("--fsize", RLIMIT_FSIZE, *limits.file_size_bytes, *limits.file_size_bytes));
  }
  argv.push_back("--");
  argv.insert(argv.end(), spec.argv.begin(), spec.argv.end());
  return argv;
}

Result<ProcessExecutor::Child> ProcessExecutor::StartWarm(const RunSpec& spec,
                                                          RunOutcome& outcome) {
  std::optional<std::string> script = pool_ != nullptr && spec.user == options_.warm_shell_user
                                          ? WarmShellPool::EligibleScript(spec)
                                          : std::nullopt;
  std::optional<WarmShellPool::Shell> shell = script ? pool_->Take() : std::nullopt;
  if (!shell) return MakeError("no warm shell");
  // The run starts when its command is handed over, as a spawned one starts at posix_spawn.
  outcome.wall_started = clock_.Now();
  outcome.started = clock_.MonoNow();
  if (Status handed = pool_->Hand(*shell, *script); !handed) return tl::unexpected(handed.error());
  Child child{shell->pid, std::move(shell->pidfd), std::move(shell->output)};
  if (!options_.use_pidfd) child.pidfd.Reset();
  return child;
}

Result<ProcessExecutor::Child> ProcessExecutor::Spawn(const RunSpec& spec, RunOutcome& outcome) {
  Result<std::string> program = ResolveProgram(spec.argv[0], spec.cwd);
  if (!program) return tl::unexpected(program.error());
  std::vector<std::string> argv = EffectiveArgv(spec);
  std::string exec_path = *program;
  if (!spec.limits.Empty()) {
    // prlimit(1) execs the command itself; give it the path we resolved.
    argv[argv.size() - spec.argv.size()] = *program;
    exec_path = options_.prlimit_path;
  }
  // The run-as user's HOME, USER and LOGNAME replace the worker's in the base, and the run's
  // own variables (a job's env:, KROND_*) go over both: the same order as a warm shell's.
  std::optional<std::vector<std::string>> base = options_.environment;
  std::string run_as;
  if (!spec.user.empty()) {
    Result<Credentials> user = LookupUser(spec.user);
    if (!user) {
      outcome.refusal = Refusal::kUnknownUser;
      return tl::unexpected(user.error());
    }
    if (user->uid == 0 && options_.refuse_uid0_user) {
      outcome.refusal = Refusal::kRoot;
      return MakeError("refusing to run as \"" + spec.user +
                       "\": it is root (uid 0) and this worker runs nothing as root");
    }
    base = WithUserVariables(base ? std::move(*base) : ProcessEnvironment(), *user);
    run_as = EncodeCredentials(*user);
  }
  std::vector<std::string> env = internal::BuildEnvironment(spec, base ? &*base : nullptr);
  Result<internal::OutputPipe> pipe = internal::MakeOutputPipe();
  if (!pipe) return tl::unexpected(pipe.error());

  outcome.wall_started = clock_.Now();
  outcome.started = clock_.MonoNow();
  Result<pid_t> spawned =
      internal::Spawn(exec_path, argv, env, spec.cwd, pipe->write.Get(), -1, guard_, run_as);
  pipe->write.Reset();  // Else we would never see EOF.
  if (!spawned) {
    std::string what = "cannot start " + exec_path;
    if (!spec.cwd.empty()) what += " in " + spec.cwd;
    return MakeError(what + ": " + spawned.error().message);
  }
  // The pid cannot be reused before we reap it, so opening the pidfd after spawn is safe.
  return Child{*spawned, UniqueFd(options_.use_pidfd ? internal::PidfdOpen(*spawned) : -1),
               std::move(pipe->read)};
}

// A run whose command was handed to a warm shell by Begin(): Wait() supervises it.
class ProcessExecutor::StartedRun final : public PendingRun {
 public:
  StartedRun(ProcessExecutor& executor, RunSpec spec, CancelToken& cancel, Child child,
             RunOutcome outcome)
      : executor_(executor),
        spec_(std::move(spec)),
        cancel_(cancel),
        child_(std::move(child)),
        outcome_(std::move(outcome)) {}
  RunOutcome Wait() override {
    return executor_.Supervise(spec_, cancel_, std::move(child_), std::move(outcome_));
  }

 private:
  ProcessExecutor& executor_;
  const RunSpec spec_;
  CancelToken& cancel_;
  Child child_;
  RunOutcome outcome_;
};

std::unique_ptr<PendingRun> ProcessExecutor::Begin(RunSpec spec, CancelToken& cancel) {
  if (pool_ != nullptr && !cancel.IsCancelled() && spec.Validate()) {
    RunOutcome outcome;
    if (Result<Child> child = StartWarm(spec, outcome)) {
      return std::make_unique<StartedRun>(*this, std::move(spec), cancel, std::move(*child),
                                          std::move(outcome));
    }
  }
  // Spawning (or failing to) is left to the slot thread, as in Run().
  return Executor::Begin(std::move(spec), cancel);
}

RunOutcome ProcessExecutor::Run(const RunSpec& spec, CancelToken& cancel) {
  RunOutcome outcome;
  outcome.wall_started = clock_.Now();
  outcome.started = clock_.MonoNow();
  if (Status valid = spec.Validate(); !valid) {
    return Finish(std::move(outcome), OutcomeKind::kSpawnFailed,
                  "invalid run spec: " + valid.error().message);
  }
  if (cancel.IsCancelled()) return Finish(std::move(outcome), OutcomeKind::kCancelled, "");

  Result<Child> child = StartWarm(spec, outcome);
  if (!child) child = Spawn(spec, outcome);
  if (!child) {
    return Finish(std::move(outcome), OutcomeKind::kSpawnFailed, child.error().message);
  }
  return Supervise(spec, cancel, std::move(*child), std::move(outcome));
}

RunOutcome ProcessExecutor::Finish(RunOutcome outcome, OutcomeKind kind, std::string error) const {
  outcome.kind = kind;
  outcome.error = std::move(error);
  outcome.finished = clock_.MonoNow();
  return outcome;
}

// One started command from its start to its outcome. Supervise alternates Due (act on the
// clock and the cancel token) and Wait (sleep until output, exit, cancel or a deadline).
class ProcessExecutor::Supervision {
 public:
  Supervision(ProcessExecutor& executor, const RunSpec& spec, CancelToken& cancel, Child child,
              RunOutcome outcome)
      : executor_(executor),
        spec_(spec),
        cancel_(cancel),
        pid_(child.pid),
        pidfd_(std::move(child.pidfd)),
        output_(std::move(child.output)),
        tail_(spec.output_tail_bytes),
        chunk_(kReadChunkBytes),
        outcome_(std::move(outcome)) {
    outcome_.pid = pid_;
    if (spec.timeout.count() > 0) deadline_ = outcome_.started + spec.timeout;
  }

  // Stops the command when cancelled or past its timeout, and SIGKILLs it after the grace.
  // False once it has exited and its group is gone and its output read, or the drain time
  // after its exit is up.
  bool Due(MonoTime now) {
    if (exited_) {
      if (!group_reaped_) group_reaped_ = ReapGroup(pid_);
      return !(!output_.Valid() && group_reaped_) && now < drain_until_;
    }
    if (stop_ == StopReason::kNone && cancel_.IsCancelled()) BeginStop(StopReason::kCancel, now);
    if (stop_ == StopReason::kNone && deadline_ && now >= *deadline_) {
      BeginStop(StopReason::kTimeout, now);
    }
    if (kill_at_ && !sigkill_sent_ && now >= *kill_at_) {
      SignalGroup(pid_, SIGKILL);
      sigkill_sent_ = true;
    }
    return true;
  }

  // Sleeps until there is output, the command exits, the token is cancelled or NextWake, and
  // takes what came.
  void Wait(MonoTime now) {
    pollfd fds[3];
    nfds_t count = 0;
    int output_index = -1;
    int pidfd_index = -1;
    if (output_.Valid()) {
      output_index = static_cast<int>(count);
      fds[count++] = {output_.Get(), POLLIN, 0};
    }
    if (!exited_ && pidfd_.Valid()) {
      pidfd_index = static_cast<int>(count);
      fds[count++] = {pidfd_.Get(), POLLIN, 0};
    }
    if (!exited_ && stop_ == StopReason::kNone && cancel_.WaitFd() >= 0) {
      fds[count++] = {cancel_.WaitFd(), POLLIN, 0};
    }
    if (poll(fds, count, PollTimeoutMs(now, NextWake(now))) < 0) {
      if (errno == EINTR || errno == ENOMEM) return;
      std::perror("krond exec: poll");
      std::abort();
    }
    if (output_index >= 0 && fds[output_index].revents != 0) ReadOutput();
    if (!exited_) CheckExit(pidfd_index >= 0 && fds[pidfd_index].revents != 0);
  }

  RunOutcome Outcome() && {
    outcome_.output_tail = tail_.Contents();
    outcome_.output_bytes_total = tail_.TotalBytes();
    outcome_.output_bytes_dropped = tail_.DroppedBytes();
    if (WIFSIGNALED(status_)) {
      outcome_.signal = WTERMSIG(status_);
      outcome_.exit_code = 128 + outcome_.signal;
    } else {
      outcome_.exit_code = WEXITSTATUS(status_);
    }
    OutcomeKind kind = outcome_.exit_code == 0 ? OutcomeKind::kSucceeded : OutcomeKind::kFailed;
    if (outcome_.signal != 0) kind = OutcomeKind::kKilledBySignal;
    if (stop_ == StopReason::kTimeout) kind = OutcomeKind::kTimedOut;
    if (stop_ == StopReason::kCancel) kind = OutcomeKind::kCancelled;
    return executor_.Finish(std::move(outcome_), kind, "");
  }

 private:
  enum class StopReason { kNone, kTimeout, kCancel };

  void BeginStop(StopReason reason, MonoTime now) {
    stop_ = reason;
    SignalGroup(pid_, SIGTERM);
    if (spec_.kill_grace.count() == 0) {
      SignalGroup(pid_, SIGKILL);
      sigkill_sent_ = true;
    } else {
      kill_at_ = now + spec_.kill_grace;
    }
  }

  std::optional<MonoTime> NextWake(MonoTime now) const {
    std::optional<MonoTime> wake;
    if (exited_) {
      Earliest(wake, drain_until_);
      // SIGKILLed orphans of ours die soon; there is no descriptor to wait on for them.
      if (!group_reaped_) Earliest(wake, now + kWaitpidPollInterval);
      return wake;
    }
    if (stop_ == StopReason::kNone && deadline_) Earliest(wake, *deadline_);
    if (kill_at_ && !sigkill_sent_) Earliest(wake, *kill_at_);
    if (!pidfd_.Valid()) Earliest(wake, now + kWaitpidPollInterval);
    if (stop_ == StopReason::kNone && cancel_.WaitFd() < 0) {
      Earliest(wake, now + kCancelPollInterval);
    }
    return wake;
  }

  void ReadOutput() {
    const ssize_t n = read(output_.Get(), chunk_.data(), chunk_.size());
    if (n > 0) {
      tail_.Append(std::string_view(chunk_.data(), static_cast<std::size_t>(n)));
    } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
      output_.Reset();
    }
  }

  // Reaps the command if it has exited: `pidfd_ready` says so where there is a pidfd.
  void CheckExit(bool pidfd_ready) {
    if (pidfd_.Valid() && !pidfd_ready) return;
    // With a pidfd that is readable the child is a zombie, and this returns at once.
    const pid_t reaped = internal::WaitChild(pid_, &status_, pidfd_.Valid() ? 0 : WNOHANG);
    if (reaped == pid_) {
      OnExit();
    } else if (pidfd_.Valid() || (reaped < 0 && errno != EINTR)) {
      std::perror("krond exec: waitpid");
      std::abort();
    }
  }

  void OnExit() {
    exited_ = true;
    // Orphans that already died are not "left behind"; reap them before looking.
    ReapGroup(pid_);
    // The command is reaped, so its pid is free again, but while any member of its group
    // lives the group id pins that number and cannot name another group. A false positive
    // needs the whole group to die and the pid to be recycled into a new group leader
    // between the two calls below, i.e. a full pid wrap-around in microseconds.
    if (kill(-pid_, 0) == 0) {
      kill(-pid_, SIGKILL);
      outcome_.descendants_killed = true;
    }
    if (executor_.group_watch_ != nullptr) executor_.group_watch_->Forget(pid_);
    drain_until_ = executor_.clock_.MonoNow() + executor_.options_.drain_after_exit;
  }

  ProcessExecutor& executor_;
  const RunSpec& spec_;
  CancelToken& cancel_;
  const pid_t pid_;
  const UniqueFd pidfd_;
  UniqueFd output_;  // the read end of the command's output pipe; reset at end of file
  OutputTail tail_;
  std::vector<char> chunk_;
  RunOutcome outcome_;
  std::optional<MonoTime> deadline_;
  StopReason stop_ = StopReason::kNone;
  std::optional<MonoTime> kill_at_;
  bool sigkill_sent_ = false;
  bool exited_ = false;
  bool group_reaped_ = false;
  int status_ = 0;  // of the command, once exited_
  MonoTime drain_until_{};
};

RunOutcome ProcessExecutor::Supervise(const RunSpec& spec, CancelToken& cancel, Child child,
                                      RunOutcome outcome) {
  Supervision run(*this, spec, cancel, std::move(child), std::move(outcome));
  for (MonoTime now = clock_.MonoNow(); run.Due(now); now = clock_.MonoNow()) run.Wait(now);
  return std::move(run).Outcome();
}

}  // namespace krond::exec
