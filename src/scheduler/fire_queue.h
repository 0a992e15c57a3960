#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "common/clock.h"

namespace krond::scheduler {

// The next fire of every job, ordered by when it is dispatched (its instant minus the job's
// dispatch-ahead): a binary min-heap of 16-byte entries, so selecting a due fire is O(log n)
// and a million jobs cost 16 MB here. Ties go in job order. Not thread-safe.
class FireQueue {
 public:
  struct Entry {
    int64_t dispatch_ms;  // when it is due to be dispatched, ms since the Unix epoch
    uint32_t job;
    // The fire instant is this much after dispatch_ms; fits in the padding of the entry.
    int32_t ahead_ms;
    bool operator>(const Entry& o) const {
      return dispatch_ms != o.dispatch_ms ? dispatch_ms > o.dispatch_ms : job > o.job;
    }
    SystemTime dispatch_at() const { return SystemTime(std::chrono::milliseconds(dispatch_ms)); }
    // The fire instant (the run's scheduled_at).
    SystemTime at() const { return SystemTime(std::chrono::milliseconds(dispatch_ms + ahead_ms)); }
  };

  // Queues job's fire at `at`, due for dispatch `ahead` earlier. Requires: ahead >= 0.
  void Push(SystemTime at, uint32_t job, std::chrono::milliseconds ahead = {}) {
    heap_.push_back(
        Entry{(at - ahead).time_since_epoch().count(), job, static_cast<int32_t>(ahead.count())});
    std::push_heap(heap_.begin(), heap_.end(), std::greater<Entry>());
  }
  bool Empty() const { return heap_.empty(); }
  size_t Size() const { return heap_.size(); }
  // The entry dispatched first; requires !Empty(). TopTime is when it is due for dispatch,
  // TopAt its fire instant.
  SystemTime TopTime() const { return heap_.front().dispatch_at(); }
  SystemTime TopAt() const { return heap_.front().at(); }
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
