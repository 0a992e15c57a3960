#include "console/publisher.h"

#include <memory>

namespace krond::console {

Outgoing TaskRecord(const messages::TopicNames& topics, const messages::TaskMessage& task,
                    std::string value) {
  return {topics.Tasks(task.cluster), task.run_id, std::move(value),
          std::string(messages::PartitionKeyOf(task))};
}

Status KafkaPublisher::PublishAndWait(const std::vector<Outgoing>& records) {
  std::lock_guard lock(mu_);
  struct State {
    size_t acked = 0;
    std::string error;
    bool permanent = false;
  };
  auto state = std::make_shared<State>();
  for (const Outgoing& r : records) {
    kafka::ProduceStatus queued = producer_.ProduceRouted(
        r.topic, r.partition_key, r.key, r.value, [state](const kafka::DeliveryReport& report) {
          if (report.status) {
            ++state->acked;
          } else if (state->error.empty()) {
            state->error = report.status.error().message;
            state->permanent = kafka::IsPermanent(report.status.error().kind);
          }
        });
    if (!queued) return MakeError("Kafka refused the record: " + queued.error().message);
  }
  const MonoTime deadline = clock_.MonoNow() + timeout_ + std::chrono::seconds(1);
  while (state->acked < records.size() && state->error.empty() && clock_.MonoNow() < deadline) {
    producer_.Poll(std::chrono::milliseconds(50));
  }
  // A permanent refusal (too large, not authorized: kafka::IsPermanent) is not an outage,
  // and retrying the request would fail the same way: say which it is.
  if (!state->error.empty()) {
    return MakeError((state->permanent ? "Kafka refused the record: " : "Kafka unreachable: ") +
                     state->error);
  }
  if (state->acked < records.size())
    return MakeError("Kafka unreachable: no acknowledgement in time");
  return {};
}

}  // namespace krond::console
