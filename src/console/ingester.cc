#include "console/ingester.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "common/time_format.h"
#include "messages/catalog.h"
#include "messages/signed_task.h"

namespace krond::console {
namespace {

using nlohmann::json;

// Results finished longer ago than this are history being read again (a rebuild), not news.
constexpr std::chrono::minutes kLiveWindow{5};

}  // namespace

Ingester::Ingester(kafka::Consumer& consumer, store::HistoryStore& store, EventHub& events,
                   ClusterStats& stats, ConsoleMetrics& metrics, const Clock& clock,
                   messages::TopicNames topics, size_t max_batch)
    : consumer_(consumer),
      store_(store),
      events_(events),
      stats_(stats),
      metrics_(metrics),
      clock_(clock),
      topics_(std::move(topics)),
      max_batch_(max_batch) {
  for (const char* kind : {"result", "task", "retry", "dead", "catalog", "control", "replay"}) {
    metrics_.ingested.WithLabels({kind});
    metrics_.ingest_errors.WithLabels({kind});
  }
}

std::string Ingester::TopicPattern(const messages::TopicNames& topics) {
  // librdkafka's regex: a leading ^ makes it a pattern. A literal dot is written [.].
  std::string prefix;
  for (char c : topics.prefix()) prefix += c == '.' ? std::string("[.]") : std::string(1, c);
  return "^" + prefix + "[.](results|jobs|control|tasks[.].+|retry[.].+|dead[.].+)$";
}

Status Ingester::Start() { return consumer_.Subscribe({TopicPattern(topics_)}); }

Ingester::Kind Ingester::KindOf(const std::string& topic) const {
  const std::string& p = topics_.prefix();
  if (topic.size() <= p.size() + 1 || topic.compare(0, p.size(), p) != 0 ||
      topic[p.size()] != '.') {
    return Kind::kNone;
  }
  const std::string_view rest = std::string_view(topic).substr(p.size() + 1);
  if (rest == "results") return Kind::kResult;
  if (rest == "jobs") return Kind::kCatalog;
  if (rest == "control") return Kind::kControl;
  if (rest.starts_with("tasks.")) return Kind::kTask;
  if (rest.starts_with("retry.")) return Kind::kRetry;
  if (rest.starts_with("dead.")) return Kind::kDead;
  return Kind::kNone;
}

void Ingester::Decode(const kafka::ConsumedMessage& m) {
  const Kind kind = KindOf(m.topic);
  const store::Position at{m.topic, m.partition, m.offset};
  auto bad = [&](const char* what, const std::string& error) {
    metrics_.ingest_errors.WithLabels({what}).Inc();
    spdlog::warn("ingest: skipped {} at {}: {}", what, at.ToString(), error);
  };
  auto count = [&](const char* what) { metrics_.ingested.WithLabels({what}).Inc(); };
  const SystemTime now = clock_.Now();
  switch (kind) {
    case Kind::kNone:
      return;
    case Kind::kCatalog: {
      if (m.value.empty()) {
        batch_.push_back(store::CatalogRemoval{m.key});
      } else {
        auto entry = messages::DecodeCatalogEntry(m.value);
        if (!entry) return bad("catalog", entry.error().message);
        batch_.push_back(store::CatalogUpsert{std::move(*entry), m.value});
      }
      batch_events_.push_back(
          {"catalog", json{{"job", m.key}, {"removed", m.value.empty()}}.dump()});
      return count("catalog");
    }
    case Kind::kControl: {
      if (m.value.empty()) return;  // compaction's deletion; the state is the latest record
      auto control = messages::DecodeControlRecord(m.value);
      if (!control) return bad("control", control.error().message);
      batch_events_.push_back({"control", m.value});
      batch_.push_back(store::ControlSeen{std::move(*control), at});
      return count("control");
    }
    case Kind::kTask:
    case Kind::kRetry: {
      // Opened, not verified: the history shows what was asked for; whether it ran is the
      // workers' call (a refused task comes back as an invalid result).
      auto task = messages::OpenTask(m.value, {});
      if (!task) return bad(kind == Kind::kTask ? "task" : "retry", task.error().message);
      batch_.push_back(store::TaskSeen{std::move(task->task), kind == Kind::kRetry});
      return count(kind == Kind::kTask ? "task" : "retry");
    }
    case Kind::kResult: {
      auto result = messages::DecodeResult(m.value);
      if (!result) return bad("result", result.error().message);
      stats_.Add(*result, now);
      const double finished =
          std::chrono::duration<double>(result->finished_at.time_since_epoch()).count();
      if (finished > metrics_.last_result.Value()) metrics_.last_result.Set(finished);
      if (result->finished_at > now - kLiveWindow) {
        json event = {{"run_id", result->run_id},
                      {"job", result->job},
                      {"cluster", result->cluster},
                      {"attempt", result->attempt},
                      {"worker", result->worker},
                      {"queue", result->queue},
                      {"outcome", messages::OutcomeName(result->outcome)},
                      {"trigger", messages::TriggerName(result->trigger)},
                      {"scheduled_at", FormatRfc3339Utc(result->scheduled_at)},
                      {"started_at", FormatRfc3339Utc(result->started_at)},
                      {"finished_at", FormatRfc3339Utc(result->finished_at)},
                      {"lateness_ms", (result->started_at - result->scheduled_at).count()},
                      {"exit_code", result->exit_code ? json(*result->exit_code) : json(nullptr)}};
        batch_events_.push_back(
            {"result", event.dump(-1, ' ', false, json::error_handler_t::replace)});
      }
      batch_.push_back(store::ResultSeen{std::move(*result), at});
      return count("result");
    }
    case Kind::kDead: {
      if (auto marker = messages::DecodeReplayMarker(m.value)) {
        batch_.push_back(store::ReplaySeen{std::move(*marker)});
        return count("replay");
      }
      auto letter = messages::DecodeDeadLetter(m.value);
      if (!letter) return bad("dead", letter.error().message);
      batch_.push_back(store::DeadSeen{std::move(*letter), m.value, at});
      return count("dead");
    }
  }
}

size_t Ingester::Step(std::chrono::milliseconds wait) {
  size_t read = 0;
  if (batch_.empty() && batch_offsets_.empty()) {
    while (read < max_batch_) {
      auto polled = consumer_.Poll(read == 0 ? wait : std::chrono::milliseconds(0));
      if (!polled) {
        metrics_.kafka_errors.Inc();
        spdlog::warn("ingest: {}", polled.error().message);
        break;
      }
      if (!*polled) break;
      const kafka::ConsumedMessage& m = **polled;
      ++read;
      Decode(m);
      auto it = std::find_if(batch_offsets_.begin(), batch_offsets_.end(), [&](const auto& tp) {
        return tp.topic == m.topic && tp.partition == m.partition;
      });
      if (it == batch_offsets_.end()) {
        batch_offsets_.push_back({m.topic, m.partition, m.offset + 1});
      } else {
        it->offset = std::max(it->offset, m.offset + 1);
      }
    }
  }
  if (batch_.empty() && batch_offsets_.empty()) return read;
  if (!batch_.empty()) {
    auto applied = store_.Apply(batch_);
    if (!applied) {
      metrics_.store_errors.Inc();
      spdlog::error("ingest: {}; {} record(s) kept for the next try", applied.error().message,
                    batch_.size());
      return read;
    }
  }
  if (auto ok = consumer_.Commit(batch_offsets_); !ok) {
    // Harmless: the records would be read again and change nothing.
    spdlog::warn("ingest: commit: {}", ok.error().message);
  }
  for (Event& e : batch_events_) events_.Publish(std::move(e));
  batch_.clear();
  batch_events_.clear();
  batch_offsets_.clear();
  return read;
}

}  // namespace krond::console
