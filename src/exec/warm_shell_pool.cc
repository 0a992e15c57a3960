#include "exec/warm_shell_pool.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "common/env_name.h"

namespace krond::exec {
namespace {

using internal::UniqueFd;

constexpr const char* kShell = "/bin/sh";
// Dot-sourcing keeps the shell reading the script as it runs, like `sh -c`; /dev/fd/3
// reopens the pipe, so the shell's reading descriptor is its own (close-on-exec) and the
// script may close descriptor 3 before the command runs.
constexpr const char* kShellArg = ". /dev/fd/3";
// A script this size fits in any pipe (POSIX guarantees PIPE_BUF; Linux pipes are at least
// one page even when the user's pipe quota is spent), so Hand() never blocks on a shell
// that reads slowly.
constexpr std::size_t kMaxScriptBytes = PIPE_BUF;
// Replacements are started once no shell was taken for this long: a cron burst takes many
// shells within milliseconds, and starting new ones during it (an exec each) would compete
// for the CPU with the burst's own commands.
constexpr std::chrono::milliseconds kRefillQuiet{20};
// How long the refill thread waits after a failed start before trying again.
constexpr std::chrono::seconds kRetryAfterFailure{1};

}  // namespace

WarmShellPool::WarmShellPool(std::size_t size, internal::Guard guard,
                             std::optional<std::vector<std::string>> environment,
                             std::optional<Credentials> user, internal::GroupWatch* watch)
    : size_(size),
      guard_(std::move(guard)),
      watch_(guard_.enabled() ? nullptr : watch),
      environment_(std::move(environment)),
      user_(std::move(user)) {
  if (size_ > 0) refill_ = std::thread([this] { Refill(); });
}

WarmShellPool::~WarmShellPool() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (refill_.joinable()) refill_.join();
  for (Shell& shell : ready_) End(shell);
}

bool WarmShellPool::Eligible(const RunSpec& spec) { return EligibleScript(spec).has_value(); }

std::optional<std::string> WarmShellPool::EligibleScript(const RunSpec& spec) {
  if (spec.argv.size() != 3 || spec.argv[0] != kShell || spec.argv[1] != "-c") return {};
  if (!spec.inherit_env || !spec.cwd.empty() || !spec.limits.Empty()) return {};
  for (const auto& [name, value] : spec.env) {
    if (!IsValidEnvName(name)) return {};
  }
  std::string script = Script(spec);
  if (script.size() > kMaxScriptBytes) return {};
  return script;
}

std::string WarmShellPool::Script(const RunSpec& spec) {
  // One line before the command's first, so the shell's line numbers in error messages are
  // the command's own.
  std::string script = "exec 3<&-;";
  if (!spec.env.empty()) {
    script += " export";
    for (const auto& [name, value] : spec.env) {
      script += ' ';
      script += name;
      script += '=';
      internal::AppendShellQuoted(script, value);
    }
    script += ';';
  }
  script += ' ';
  script += spec.argv[2];
  script += '\n';
  return script;
}

std::optional<WarmShellPool::Shell> WarmShellPool::Take() {
  std::optional<Shell> shell;
  bool wake = false;
  {
    std::lock_guard lock(mu_);
    if (ready_.empty()) return std::nullopt;
    shell = std::move(ready_.front());
    ready_.pop_front();
    last_take_ = std::chrono::steady_clock::now();
    // Only a refill thread waiting for the pool to run short needs telling; one waiting for
    // takes to pause sees last_take_ when its wait ends. Waking it on every take of a burst
    // cost a context switch per run.
    wake = refill_idle_;
    refill_idle_ = false;
  }
  if (wake) wake_.notify_one();
  return shell;
}

Status WarmShellPool::Hand(Shell& shell, const std::string& script) {
  // A shell killed while idle is a zombie of ours: reap it rather than write to it.
  int status = 0;
  if (internal::WaitChild(shell.pid, &status, WNOHANG) == shell.pid) {
    Reaped(shell);
    return MakeError("warm shell exited while idle");
  }
  const ssize_t n = internal::WriteNoSigpipe(shell.script.Get(), script);
  if (n != static_cast<ssize_t>(script.size())) {
    const int err = errno;
    End(shell);
    return MakeError("cannot hand the command to a warm shell: " +
                     (n < 0 ? internal::ErrnoText(err) : std::string("short write")));
  }
  shell.script.Reset();
  return {};
}

std::size_t WarmShellPool::Ready() const {
  std::lock_guard lock(mu_);
  return ready_.size();
}

void WarmShellPool::Refill() {
  std::unique_lock lock(mu_);
  while (true) {
    refill_idle_ = true;
    wake_.wait(lock, [this] { return stopping_ || ready_.size() < size_; });
    refill_idle_ = false;
    while (!stopping_ && std::chrono::steady_clock::now() < last_take_ + kRefillQuiet) {
      wake_.wait_until(lock, last_take_ + kRefillQuiet);
    }
    if (stopping_) return;
    lock.unlock();
    Result<Shell> shell = Start();
    lock.lock();
    if (shell) {
      ready_.push_back(std::move(*shell));
    } else {
      // Runs spawn as usual meanwhile, and report the cause if it is theirs too.
      wake_.wait_for(lock, kRetryAfterFailure, [this] { return stopping_; });
    }
  }
}

Result<WarmShellPool::Shell> WarmShellPool::Start() const {
  Result<internal::OutputPipe> output = internal::MakeOutputPipe();
  if (!output) return tl::unexpected(output.error());
  int script_fds[2];
  if (pipe2(script_fds, O_CLOEXEC) != 0) {
    return MakeError("cannot create script pipe: " + internal::ErrnoText(errno));
  }
  UniqueFd script_read(script_fds[0]);
  Shell shell;
  shell.script = UniqueFd(script_fds[1]);
  // The shell reopens the pipe through /dev/fd/3, which checks the pipe's owner and mode
  // (0600) like a file's: a pipe the worker (root) made cannot be opened by a shell that runs
  // as another user, and every run handed to it would fail with "cannot open /dev/fd/3:
  // Permission denied". The pipe belongs to the shell's user instead.
  if (user_ && fchown(script_read.Get(), user_->uid, user_->gid) != 0) {
    return MakeError("cannot give the script pipe to the warm shell's user: " +
                     internal::ErrnoText(errno));
  }
  std::vector<std::string> argv = {kShell, "-c", kShellArg};
  std::vector<std::string> env =
      internal::BuildEnvironment(RunSpec{}, environment_ ? &*environment_ : nullptr);
  if (user_) env = WithUserVariables(std::move(env), *user_);
  Result<pid_t> pid = internal::Spawn(kShell, argv, env, "", output->write.Get(), script_read.Get(),
                                      guard_, user_ ? EncodeCredentials(*user_) : std::string());
  if (!pid) return tl::unexpected(pid.error());
  shell.pid = *pid;
  if (watch_ != nullptr) {
    if (Status watched = watch_->Watch(shell.pid); !watched) {
      End(shell);
      return tl::unexpected(watched.error());
    }
  }
  shell.pidfd = UniqueFd(internal::PidfdOpen(shell.pid));
  shell.output = std::move(output->read);
  return shell;
}

void WarmShellPool::End(Shell& shell) const {
  if (shell.pid <= 0) return;
  kill(-shell.pid, SIGKILL);
  internal::WaitChild(shell.pid, nullptr, 0);
  Reaped(shell);
}

void WarmShellPool::Reaped(Shell& shell) const {
  if (watch_ != nullptr) watch_->Forget(shell.pid);
  shell.pid = 0;
}

}  // namespace krond::exec
