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

}  // namespace krond::kafka
