#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <span>
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
    SystemTime at() const { return SystemTime(std::chrono::milliseconds(at_ms)); }
  };

  void Push(SystemTime at, uint32_t job) {
    heap_.push_back(Entry{at.time_since_epoch().count(), job});
    std::push_heap(heap_.begin(), heap_.end(), std::greater<Entry>());
  }
  bool Empty() const { return heap_.empty(); }
  size_t Size() const { return heap_.size(); }
  // The earliest entry; requires !Empty().
  SystemTime TopTime() const { return heap_.front().at(); }
  uint32_t TopJob() const { return heap_.front().job; }
  void Pop() {
    std::pop_heap(heap_.begin(), heap_.end(), std::greater<Entry>());
    heap_.pop_back();
  }
  // Empties the queue and frees its memory.
  void Clear() { std::vector<Entry>().swap(heap_); }
  // Empties the queue and makes room for `n` entries.
  void Reserve(size_t n) {
    Clear();
    heap_.reserve(n);
  }
  // Every entry, in no useful order: lets the owner find a job's pending fire without
  // keeping a copy of each (another 16 MB for a million jobs). O(n) to scan.
  std::span<const Entry> Entries() const { return heap_; }

 private:
  std::vector<Entry> heap_;
};

}  // namespace krond::scheduler
