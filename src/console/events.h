#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

// Server-sent events of the console (GET /api/v1/events): the ingester publishes what it
// read (results, control changes), each subscriber (one per open /events request) takes
// them from a bounded queue of its own.
namespace krond::console {

struct Event {
  std::string type;  // "result" | "control" | "catalog"
  std::string json;  // one line
};

// Thread-safe.
class EventHub {
 public:
  class Subscription;

  // `queue_limit`: events kept per subscriber; a subscriber that falls further behind loses
  // the oldest (counted in dropped()), so one slow browser never holds memory or the
  // ingester back.
  explicit EventHub(size_t max_subscribers = 8, size_t queue_limit = 1000)
      : max_subscribers_(max_subscribers), queue_limit_(queue_limit) {}

  void Publish(Event event);
  // nullptr when max_subscribers are already connected.
  std::shared_ptr<Subscription> Subscribe();
  // Wakes every subscriber for good: their Next returns closed.
  void Close();
  size_t subscribers() const;
  uint64_t dropped() const;

  class Subscription {
   public:
    // Waits up to `timeout` for events; returns what is queued (maybe nothing). `closed`
    // tells the hub closed.
    std::vector<Event> Next(std::chrono::milliseconds timeout, bool& closed);
    ~Subscription();

   private:
    friend class EventHub;
    explicit Subscription(EventHub& hub) : hub_(hub) {}
    EventHub& hub_;
    std::deque<Event> queue_;  // guarded by hub_.mu_
  };

 private:
  const size_t max_subscribers_;
  const size_t queue_limit_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Subscription*> subscribers_;  // guarded by mu_
  bool closed_ = false;                     // guarded by mu_
  uint64_t dropped_ = 0;                    // guarded by mu_
};

}  // namespace krond::console
