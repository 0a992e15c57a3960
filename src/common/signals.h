#pragma once

#include <atomic>
#include <thread>

namespace krond {

// Turns SIGTERM/SIGINT (stop) and SIGHUP (reload) into flags a main loop polls.
//
// Construct it first thing in main, before any thread starts: it blocks those signals in
// the calling thread, so every thread created afterwards (librdkafka's included) inherits
// the mask and only this watcher's thread receives them. A second SIGTERM/SIGINT while
// stopping exits the process at once (the operator means it).
class SignalWatcher {
 public:
  SignalWatcher();
  ~SignalWatcher();
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

  bool stop_requested() const { return stop_.load(std::memory_order_acquire); }
  // Returns true once per SIGHUP received.
  bool TakeReloadRequest() { return reload_.exchange(false, std::memory_order_acq_rel); }
  // Lets tests and callers request a stop without a signal.
  void RequestStop() { stop_.store(true, std::memory_order_release); }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<bool> reload_{false};
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace krond
