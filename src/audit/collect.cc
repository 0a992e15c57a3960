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
  // Decodes each record of `topic` and hands it to the auditor; undecodable ones are counted.
  auto feed = [&](const std::string& topic, auto decode, auto add, size_t& count) {
    return scan(topic, from, [&](const kafka::ConsumedMessage& m) {
      if (auto record = decode(m.value)) {
        add(*record);
        ++count;
      } else {
        ++stats.undecodable;
      }
      return take();
    });
  };
  for (const std::string& cluster : clusters) {
    auto ok = feed(
        topics.Tasks(cluster), [](std::string_view v) { return messages::DecodeTask(v); },
        [&](const messages::TaskMessage& t) { auditor.AddTask(t); }, stats.tasks);
    if (!ok) return fail(ok.error());
  }
  auto results = feed(
      topics.Results(), [](std::string_view v) { return messages::DecodeResult(v); },
      [&](const messages::ResultMessage& r) { auditor.AddResult(r); }, stats.results);
  if (!results) return fail(results.error());
  auto skips = feed(
      topics.Skips(), [](std::string_view v) { return messages::DecodeSkipRecord(v); },
      [&](const messages::SkipRecord& r) { auditor.AddSkip(r); }, stats.skips);
  if (!skips) return fail(skips.error());
  return stats;
}

}  // namespace krond::audit
