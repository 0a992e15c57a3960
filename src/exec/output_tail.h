#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace krond::exec {

// Keeps the last `capacity` bytes of a byte stream (a run's merged stdout+stderr) in a ring
// buffer, and counts how many bytes went through and how many were dropped. The end of a
// failing job's output is what explains the failure, so the head is what we give up.
//
// Bytes are stored as-is (the stream may be binary or cut mid UTF-8 sequence); callers that
// put the tail into a message sanitize it. Memory is allocated once, in the constructor.
// Not thread-safe: one run owns one OutputTail.
class OutputTail {
 public:
  // capacity 0 keeps nothing but still counts.
  explicit OutputTail(std::size_t capacity);

  void Append(std::string_view data);

  // The kept bytes, oldest first: the last min(TotalBytes(), capacity) bytes appended.
  std::string Contents() const;

  std::size_t Capacity() const { return buffer_.size(); }
  std::uint64_t TotalBytes() const { return total_; }
  std::uint64_t DroppedBytes() const { return total_ - size_; }

 private:
  std::vector<char> buffer_;
  std::size_t head_ = 0;  // Where the next byte goes.
  std::size_t size_ = 0;  // Bytes held, <= capacity.
  std::uint64_t total_ = 0;
};

}  // namespace krond::exec
