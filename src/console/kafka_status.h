#pragma once

#include <chrono>
#include <mutex>
#include <string>

#include "common/clock.h"

// Whether the console can reach Kafka right now, for the web console's banner
// (GET /api/v1/health, "kafka"). librdkafka reports failures (a refused connection, all
// brokers down) through the clients' error callbacks but never says "connected again", so
// recovery is inferred: from the next success (a record read, a write acknowledged), or from
// `quiet` passing without a new error (the clients retry a lost broker at least every second
// and report each failure, so a quiet spell means the brokers answer).
namespace krond::console {

struct KafkaState {
  bool reachable = true;
  std::string last_error;      // the newest error, even when reachable again; "" if none yet
  SystemTime last_error_at{};  // epoch when none
};

// Thread-safe: errors come from librdkafka's threads, reads from the API's.
class KafkaStatus {
 public:
  explicit KafkaStatus(std::chrono::seconds quiet = std::chrono::seconds(30)) : quiet_(quiet) {}

  void OnError(const std::string& description, SystemTime now);
  // A record read or a write acknowledged: the brokers answer.
  void OnSuccess(SystemTime now);
  KafkaState Get(SystemTime now) const;

 private:
  const std::chrono::seconds quiet_;
  mutable std::mutex mu_;
  std::string last_error_;        // guarded by mu_
  SystemTime last_error_at_{};    // guarded by mu_
  SystemTime last_success_at_{};  // guarded by mu_
};

}  // namespace krond::console
