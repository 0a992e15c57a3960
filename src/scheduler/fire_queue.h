#pragma once

#include <cstdint>
#include <optional>
#include <queue>
#include <vector>

#include "common/clock.h"

namespace krond::scheduler {

// The next fire of every job, ordered by time: a binary min-heap of 16-byte entries, so
// selecting a due fire is O(log n) and a million jobs cost 16 MB here. Ties fire in job
// order. Not thread-safe.
class FireQueue {
 public:
  struct Entry {
    int64_t at_ms;  // fire instant, ms since the Unix epoch
    uint32_t job;
    bool operator>(const Entry& o) const {
      return at_ms != o.at_ms ? at_ms > o.at_ms : job > o.job;
    }
  };

  void Push(SystemTime at, uint32_t job) { heap_.push(Entry{at.time_since_epoch().count(), job}); }
  bool Empty() const { return heap_.empty(); }
  size_t Size() const { return heap_.size(); }
  // The earliest entry; requires !Empty().
  SystemTime TopTime() const { return SystemTime(std::chrono::milliseconds(heap_.top().at_ms)); }
  uint32_t TopJob() const { return heap_.top().job; }
  void Pop() { heap_.pop(); }
  void Clear() { heap_ = {}; }
  void Reserve(size_t n) {
    std::vector<Entry> storage;
    storage.reserve(n);
    heap_ = Heap(std::greater<Entry>(), std::move(storage));
  }

 private:
  using Heap = std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>>;
  Heap heap_;
};

}  // namespace krond::scheduler
