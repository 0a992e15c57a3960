#include "kafka/kafka.h"

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

}  // namespace krond::kafka
