#include "audit/collect.h"

#include "messages/run_messages.h"
#include "messages/scheduler_records.h"

namespace krond::audit {

tl::expected<CollectStats, CollectError> Collect(const TopicScanner& scan,
                                                 const messages::TopicNames& topics,
                                                 const std::vector<std::string>& clusters,
                                                 SystemTime from, size_t max_records,
                                                 Auditor& auditor) {
  CollectStats stats;
  size_t read = 0;
  bool over = false;
  // Counts a record; false (stop) past the limit.
  auto take = [&]() {
    over = max_records > 0 && ++read > max_records;
    return !over;
  };
  auto fail = [&](const Error& error) -> tl::expected<CollectStats, CollectError> {
    if (over) {
      return tl::unexpected(
          CollectError{true, "more than " + std::to_string(max_records) + " records to audit"});
    }
    return tl::unexpected(CollectError{false, error.message});
  };
  for (const std::string& cluster : clusters) {
    auto ok = scan(topics.Tasks(cluster), from, [&](const kafka::ConsumedMessage& m) {
      if (auto task = messages::DecodeTask(m.value)) {
        auditor.AddTask(*task);
        ++stats.tasks;
      } else {
        ++stats.undecodable;
      }
      return take();
    });
    if (!ok) return fail(ok.error());
  }
  auto results = scan(topics.Results(), from, [&](const kafka::ConsumedMessage& m) {
    if (auto result = messages::DecodeResult(m.value)) {
      auditor.AddResult(*result);
      ++stats.results;
    } else {
      ++stats.undecodable;
    }
    return take();
  });
  if (!results) return fail(results.error());
  auto skips = scan(topics.Skips(), from, [&](const kafka::ConsumedMessage& m) {
    if (auto skip = messages::DecodeSkipRecord(m.value)) {
      auditor.AddSkip(*skip);
      ++stats.skips;
    } else {
      ++stats.undecodable;
    }
    return take();
  });
  if (!skips) return fail(skips.error());
  return stats;
}

}  // namespace krond::audit
