#include "console/events.h"

#include <algorithm>

namespace krond::console {

void EventHub::Publish(Event event) {
  {
    std::lock_guard lock(mu_);
    if (subscribers_.empty()) return;
    for (Subscription* s : subscribers_) {
      s->queue_.push_back(event);
      if (s->queue_.size() > queue_limit_) {
        s->queue_.pop_front();
        ++dropped_;
      }
    }
  }
  cv_.notify_all();
}

std::shared_ptr<EventHub::Subscription> EventHub::Subscribe() {
  std::lock_guard lock(mu_);
  if (closed_ || subscribers_.size() >= max_subscribers_) return nullptr;
  std::shared_ptr<Subscription> s(new Subscription(*this));
  subscribers_.push_back(s.get());
  return s;
}

void EventHub::Close() {
  {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

size_t EventHub::subscribers() const {
  std::lock_guard lock(mu_);
  return subscribers_.size();
}

uint64_t EventHub::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

EventHub::Subscription::~Subscription() {
  std::lock_guard lock(hub_.mu_);
  std::erase(hub_.subscribers_, this);
}

std::vector<Event> EventHub::Subscription::Next(std::chrono::milliseconds timeout, bool& closed) {
  std::unique_lock lock(hub_.mu_);
  hub_.cv_.wait_for(lock, timeout, [this] { return hub_.closed_ || !queue_.empty(); });
  closed = hub_.closed_;
  std::vector<Event> out(std::make_move_iterator(queue_.begin()),
                         std::make_move_iterator(queue_.end()));
  queue_.clear();
  return out;
}

}  // namespace krond::console
