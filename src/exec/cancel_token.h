#pragma once

#include <atomic>

namespace krond::exec {

// Lets another thread stop a run: the worker's shutdown path or a "replace" concurrency
// policy calls Cancel(), and the Executor::Run blocked on the slot thread kills the process
// group and returns kCancelled.
//
// Thread-safe; Cancel() is idempotent and a cancelled token stays cancelled (use one token
// per run, or one per slot for "stop everything"). Cancelling before Run() starts makes Run
// return kCancelled without spawning. The token must outlive the Run() it is passed to.
//
// An eventfd makes the cancel wake the executor's poll() at once. If the eventfd cannot be
// created (fd exhaustion) the token still works: executors then check IsCancelled() at
// least every 50 ms.
class CancelToken {
 public:
  CancelToken();
  ~CancelToken();
  CancelToken(const CancelToken&) = delete;
  CancelToken& operator=(const CancelToken&) = delete;

  void Cancel();
  bool IsCancelled() const { return cancelled_.load(std::memory_order_acquire); }

  // For executors: a descriptor that polls readable once Cancel() was called, or -1.
  int WaitFd() const { return event_fd_; }

 private:
  std::atomic<bool> cancelled_{false};
  const int event_fd_;
};

}  // namespace krond::exec
