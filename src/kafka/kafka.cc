#include "kafka/kafka.h"

#include <spdlog/spdlog.h>

namespace krond::kafka {

Status ClientConfig::Validate() const {
  if (brokers.empty()) return MakeError("no Kafka brokers given (use --brokers HOST:PORT)");
  return {};
}

std::string_view ProduceErrorName(ProduceErrorKind kind) {
  switch (kind) {
    case ProduceErrorKind::kRetriable:
      return "retriable";
    case ProduceErrorKind::kTooLarge:
      return "too_large";
    case ProduceErrorKind::kUnauthorized:
      return "unauthorized";
    case ProduceErrorKind::kUnknownTopic:
      return "unknown_topic";
    case ProduceErrorKind::kInvalid:
      return "invalid";
  }
  return "retriable";
}

std::string_view TopicErrorName(TopicErrorKind kind) {
  switch (kind) {
    case TopicErrorKind::kUnreachable:
      return "unreachable";
    case TopicErrorKind::kPartitionMismatch:
      return "partition_mismatch";
    case TopicErrorKind::kRejected:
      return "rejected";
    case TopicErrorKind::kCancelled:
      return "cancelled";
  }
  return "unreachable";
}

EnsureResult EnsureTopicsPatiently(Admin& admin, const std::vector<TopicSpec>& specs,
                                   const RetryWait& wait, std::chrono::milliseconds attempt_timeout,
                                   std::chrono::milliseconds delay) {
  for (int attempt = 1;; ++attempt) {
    EnsureResult reports = admin.EnsureTopics(specs, attempt_timeout);
    if (reports || reports.error().kind != TopicErrorKind::kUnreachable) return reports;
    spdlog::warn("cannot ensure topics yet (attempt {}), retrying in {} ms: {}", attempt,
                 delay.count(), reports.error().message);
    if (!wait(delay)) {
      return tl::unexpected(
          TopicError{TopicErrorKind::kCancelled, "stopped before topics were ensured"});
    }
  }
}

int32_t Murmur2(std::string_view data) {
  // Unsigned arithmetic: the Java original relies on int overflow wrapping, which is
  // undefined for signed ints in C++.
  constexpr uint32_t kSeed = 0x9747b28c;
  constexpr uint32_t kM = 0x5bd1e995;
  constexpr int kR = 24;
  const auto* bytes = reinterpret_cast<const unsigned char*>(data.data());
  const size_t length = data.size();
  uint32_t h = kSeed ^ static_cast<uint32_t>(length);
  const size_t whole = length / 4 * 4;
  for (size_t i = 0; i < whole; i += 4) {
    uint32_t k = uint32_t{bytes[i]} | uint32_t{bytes[i + 1]} << 8 | uint32_t{bytes[i + 2]} << 16 |
                 uint32_t{bytes[i + 3]} << 24;
    k *= kM;
    k ^= k >> kR;
    k *= kM;
    h *= kM;
    h ^= k;
  }
  switch (length % 4) {
    case 3:
      h ^= uint32_t{bytes[whole + 2]} << 16;
      [[fallthrough]];
    case 2:
      h ^= uint32_t{bytes[whole + 1]} << 8;
      [[fallthrough]];
    case 1:
      h ^= uint32_t{bytes[whole]};
      h *= kM;
  }
  h ^= h >> 13;
  h *= kM;
  h ^= h >> 15;
  return static_cast<int32_t>(h);
}

int32_t PartitionForKey(std::string_view key, int32_t partitions) {
  // Java's Utils.toPositive: clear the sign bit (not abs, which differs for INT_MIN).
  const auto positive = static_cast<uint32_t>(Murmur2(key)) & 0x7fffffffu;
  return static_cast<int32_t>(positive % static_cast<uint32_t>(partitions));
}

}  // namespace krond::kafka
