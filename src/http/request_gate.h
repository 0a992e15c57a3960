#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include "common/result.h"

namespace krond::http {

// Reads the head (request line and headers) of every request on one thread, for any number
// of connections at once, and hands only complete heads on. A slow or stalled client then
// costs a descriptor and a small buffer, never a thread that a health probe needs: two
// clients sending a byte every 2.5 s held both threads of the old admin server, and three
// /healthz probes in a row timed out (issue 19).
//
//   - a head must arrive whole within `deadline` of the connection's accept, and be at most
//     `max_head_bytes`; otherwise the connection gets 408 or 431 and is closed;
//   - at most `max_connections` connections wait for their head; a new one beyond that
//     closes the one that has waited longest (so a flood of idle connections cannot lock
//     new clients out for longer than it keeps opening them).
//
// Internal to krond_http (AdminServer). Add and Stop are thread-safe; `on_head` runs on the
// gate's thread and must not block.
class RequestGate {
 public:
  struct Limits {
    // From accept to the end of the response. Default: 10 s (Prometheus' default scrape
    // timeout).
    std::chrono::milliseconds deadline{10'000};
    // Request line and headers together. Default: 16 KiB.
    std::size_t max_head_bytes = 16 * 1024;
    // Connections waiting for their head. Default: 128.
    std::size_t max_connections = 128;
  };
  using Deadline = std::chrono::steady_clock::time_point;
  // A complete head (up to and including the blank line) and any bytes after it; takes
  // ownership of `fd`, which is non-blocking.
  using HeadHandler = std::function<void(int fd, std::string head, Deadline deadline)>;

  RequestGate(Limits limits, HeadHandler on_head);
  ~RequestGate();
  RequestGate(const RequestGate&) = delete;
  RequestGate& operator=(const RequestGate&) = delete;

  [[nodiscard]] Status Start();
  // Takes ownership of an accepted connection. After Stop, closes it at once.
  void Add(int fd);
  // Closes every connection still waiting and joins the thread. Idempotent.
  void Stop();

  // What happened to connections, for tests and logs.
  struct Counts {
    std::size_t handed_on = 0;
    std::size_t timed_out = 0;
    std::size_t too_large = 0;
    std::size_t evicted = 0;
  };
  Counts counts() const;

 private:
  struct Connection {
    std::string buffer;
    Deadline deadline;
    uint64_t order = 0;  // accept order, for eviction
  };
  void Loop();
  void Watch(int fd);
  // Reads what `fd` has; true when the connection is done with (handed on or closed).
  bool ReadFrom(int fd, Connection& c);
  void Reject(int fd, std::string_view status_line);
  void Forget(int fd);

  const Limits limits_;
  const HeadHandler on_head_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: new connections or stop
  std::thread thread_;

  mutable std::mutex mu_;
  std::deque<int> added_;  // guarded by mu_
  bool stopping_ = false;  // guarded by mu_
  Counts counts_;          // guarded by mu_

  // Gate thread only.
  std::unordered_map<int, Connection> connections_;
  uint64_t next_order_ = 0;
};

}  // namespace krond::http
