#include "http/request_gate.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <limits>

namespace krond::http {
namespace {

using Clock = std::chrono::steady_clock;

// Where the head ends (just past its blank line), or npos. Lines end in CRLF; a bare LF is
// accepted too, as most servers (and httplib's own reader) do.
std::size_t HeadEnd(const std::string& buffer, std::size_t from) {
  for (std::size_t i = from; i < buffer.size(); ++i) {
    if (buffer[i] != '\n') continue;
    if (i >= 1 && buffer[i - 1] == '\n') return i + 1;
    if (i >= 2 && buffer[i - 1] == '\r' && buffer[i - 2] == '\n') return i + 1;
  }
  return std::string::npos;
}

int MillisecondsUntil(Clock::time_point when) {
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(when - Clock::now()).count();
  return static_cast<int>(std::clamp<decltype(left)>(left, 0, std::numeric_limits<int>::max()));
}

}  // namespace

RequestGate::RequestGate(Limits limits, HeadHandler on_head)
    : limits_(limits), on_head_(std::move(on_head)) {}

RequestGate::~RequestGate() { Stop(); }

Status RequestGate::Start() {
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (epoll_fd_ < 0 || wake_fd_ < 0) {
    return MakeError(std::string("admin server: cannot create its event loop: ") +
                     std::strerror(errno));
  }
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.fd = wake_fd_;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &event) != 0) {
    return MakeError(std::string("admin server: epoll_ctl: ") + std::strerror(errno));
  }
  thread_ = std::thread([this] { Loop(); });
  return {};
}

void RequestGate::Add(int fd) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_ && thread_.joinable()) {
      added_.push_back(fd);
      fd = -1;
    }
  }
  if (fd >= 0) {
    ::close(fd);
    return;
  }
  const uint64_t one = 1;
  [[maybe_unused]] const ssize_t n = ::write(wake_fd_, &one, sizeof one);
}

void RequestGate::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  if (thread_.joinable()) {
    const uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = ::write(wake_fd_, &one, sizeof one);
    thread_.join();
  }
  for (int fd : added_) ::close(fd);
  added_.clear();
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
  epoll_fd_ = wake_fd_ = -1;
}

RequestGate::Counts RequestGate::counts() const {
  std::lock_guard lock(mu_);
  return counts_;
}

void RequestGate::Loop() {
  std::array<epoll_event, 64> events;
  while (true) {
    int timeout = -1;
    for (const auto& [fd, c] : connections_) {
      const int left = MillisecondsUntil(c.deadline);
      if (timeout < 0 || left < timeout) timeout = left;
    }
    const int n = epoll_wait(epoll_fd_, events.data(), static_cast<int>(events.size()), timeout);
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < n; ++i) {
      const int fd = events[static_cast<std::size_t>(i)].data.fd;
      if (fd == wake_fd_) {
        uint64_t count = 0;
        [[maybe_unused]] const ssize_t r = ::read(wake_fd_, &count, sizeof count);
        std::deque<int> added;
        {
          std::lock_guard lock(mu_);
          if (stopping_) {
            for (auto& [open_fd, c] : connections_) ::close(open_fd);
            connections_.clear();
            return;
          }
          added.swap(added_);
        }
        for (int new_fd : added) Watch(new_fd);
        continue;
      }
      auto it = connections_.find(fd);
      if (it != connections_.end() && ReadFrom(fd, it->second)) connections_.erase(fd);
    }
    const Clock::time_point now = Clock::now();
    for (auto it = connections_.begin(); it != connections_.end();) {
      if (it->second.deadline > now) {
        ++it;
        continue;
      }
      const int fd = it->first;
      it = connections_.erase(it);
      {
        std::lock_guard lock(mu_);
        ++counts_.timed_out;
      }
      Reject(fd, "HTTP/1.1 408 Request Timeout");
    }
  }
}

void RequestGate::Watch(int fd) {
  const int flags = fcntl(fd, F_GETFL);
  epoll_event event{};
  event.events = EPOLLIN | EPOLLRDHUP;
  event.data.fd = fd;
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0 ||
      epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) {
    ::close(fd);
    return;
  }
  if (connections_.size() >= limits_.max_connections) {
    auto oldest = std::min_element(
        connections_.begin(), connections_.end(),
        [](const auto& a, const auto& b) { return a.second.order < b.second.order; });
    const int evicted = oldest->first;
    connections_.erase(oldest);
    Forget(evicted);
    ::close(evicted);
    std::lock_guard lock(mu_);
    ++counts_.evicted;
  }
  Connection& c = connections_[fd];
  c.deadline = Clock::now() + limits_.deadline;
  c.order = next_order_++;
}

bool RequestGate::ReadFrom(int fd, Connection& c) {
  std::array<char, 4096> chunk;
  while (true) {
    // One byte more than allowed tells a head that is too large from one that just fits.
    const std::size_t room = limits_.max_head_bytes + 1 - c.buffer.size();
    const ssize_t n = ::recv(fd, chunk.data(), std::min(room, chunk.size()), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return false;
    if (n <= 0) {  // closed by the client, or reset
      Forget(fd);
      ::close(fd);
      return true;
    }
    const std::size_t scan_from = c.buffer.size() >= 3 ? c.buffer.size() - 3 : 0;
    c.buffer.append(chunk.data(), static_cast<std::size_t>(n));
    if (HeadEnd(c.buffer, scan_from) != std::string::npos) {
      Forget(fd);
      {
        std::lock_guard lock(mu_);
        ++counts_.handed_on;
      }
      on_head_(fd, std::move(c.buffer), c.deadline);
      return true;
    }
    if (c.buffer.size() > limits_.max_head_bytes) {
      Forget(fd);
      {
        std::lock_guard lock(mu_);
        ++counts_.too_large;
      }
      Reject(fd, "HTTP/1.1 431 Request Header Fields Too Large");
      return true;
    }
  }
}

void RequestGate::Reject(int fd, std::string_view status_line) {
  Forget(fd);
  const std::string response =
      std::string(status_line) + "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
  // Best effort: a few bytes into an empty socket buffer, never waiting for the client.
  [[maybe_unused]] const ssize_t n =
      ::send(fd, response.data(), response.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  ::close(fd);
}

void RequestGate::Forget(int fd) { epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr); }

}  // namespace krond::http
