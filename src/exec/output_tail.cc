#include "exec/output_tail.h"

#include <algorithm>
#include <cstring>

namespace krond::exec {

OutputTail::OutputTail(std::size_t capacity) : buffer_(capacity) {}

void OutputTail::Append(std::string_view data) {
  total_ += data.size();
  const std::size_t capacity = buffer_.size();
  if (capacity == 0 || data.empty()) return;
  if (data.size() >= capacity) {
    std::memcpy(buffer_.data(), data.data() + data.size() - capacity, capacity);
    head_ = 0;
    size_ = capacity;
    return;
  }
  const std::size_t first = std::min(data.size(), capacity - head_);
  std::memcpy(buffer_.data() + head_, data.data(), first);
  std::memcpy(buffer_.data(), data.data() + first, data.size() - first);
  head_ = (head_ + data.size()) % capacity;
  size_ = std::min(capacity, size_ + data.size());
}

std::string OutputTail::Contents() const {
  std::string out;
  out.reserve(size_);
  const std::size_t capacity = buffer_.size();
  const std::size_t start = (head_ + capacity - size_) % (capacity == 0 ? 1 : capacity);
  const std::size_t first = std::min(size_, capacity - start);
  out.append(buffer_.data() + start, first);
  out.append(buffer_.data(), size_ - first);
  return out;
}

}  // namespace krond::exec
