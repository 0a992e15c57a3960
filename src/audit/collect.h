#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "audit/audit.h"
#include "common/clock.h"
#include "common/result.h"
#include "kafka/kafka.h"
#include "messages/topics.h"

namespace krond::audit {

// Reads every committed record of a topic from `since` (all of it when unset) to its current
// end, calling the callback per record; the callback returns false to stop (an error).
// kafka::ScanTopic in production, a FakeTxnLog in tests.
using TopicScanner =
    std::function<Status(const std::string& topic, std::optional<SystemTime> since,
                         const std::function<bool(const kafka::ConsumedMessage&)>&)>;

struct CollectStats {
  size_t tasks = 0;
  size_t results = 0;
  size_t skips = 0;
  size_t undecodable = 0;
};

struct CollectError {
  bool too_large = false;  // more than max_records: the window is too big to audit here
  std::string message;
};

// Feeds `auditor` with what the topics of `clusters` hold from `from` on: the task topics,
// the results and the skip records. Stops with a too_large error once more than
// `max_records` were read (0: no limit), so a periodic audit stays bounded.
[[nodiscard]] tl::expected<CollectStats, CollectError> Collect(
    const TopicScanner& scan, const messages::TopicNames& topics,
    const std::vector<std::string>& clusters, SystemTime from, size_t max_records,
    Auditor& auditor);

}  // namespace krond::audit
