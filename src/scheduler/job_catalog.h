#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "config/job_file.h"
#include "kafka/reliable_publisher.h"
#include "messages/catalog.h"
#include "messages/run_messages.h"
#include "scheduler/scheduler_metrics.h"

// The job catalog (<prefix>.jobs, docs/control.md): what the active scheduler fires, published
// so that the console and anyone else can read it without the job file.
namespace krond::scheduler {

// What every run of `job` carries (messages::NewRun fills in the rest).
messages::TaskMessage JobFields(const config::Job& job);

// The task of the first attempt of `job`'s scheduled run due at `scheduled_at`, with a new
// run id and `fence` (0: none): messages::NewRun of JobFields.
messages::TaskMessage MakeTaskMessage(const config::Job& job, SystemTime scheduled_at,
                                      SystemTime now, int64_t fence = 0);

// `job`'s catalog entry at `now`, with its next `next_count` fire times. `@every` jobs are
// shown anchored at `now` (the scheduler anchors them at its own start).
messages::CatalogEntry CatalogEntryOf(const config::Job& job, SystemTime now,
                                      size_t next_count = 5);

// Names in `before` that are not in `after` (jobs a reload removed), sorted. O(n log n).
std::vector<std::string> RemovedJobs(const std::vector<config::Job>& before,
                                     const std::vector<config::Job>& after);

// Publishes the catalog: one record per job, then a tombstone per removed job. Paced, so a
// million jobs neither fill the producer's queue nor hold a million encoded records: Poll
// encodes and publishes the next few thousand while fewer than `max_in_flight` are
// unacknowledged. Not thread-safe: the scheduler's thread owns it.
class CatalogPublisher {
 public:
  CatalogPublisher(kafka::Producer& producer, const Clock& clock, std::string topic,
                   SchedulerMetrics& metrics, size_t max_in_flight = 10'000);

  // Starts publishing `jobs` (replacing a publication in progress) and tombstones for
  // `removed`. `jobs` must stay valid and unchanged until the next Publish or until done().
  void Publish(const std::vector<config::Job>* jobs, std::vector<std::string> removed);
  // Publishes the next batch and serves delivery reports (waits up to `timeout`).
  void Poll(std::chrono::milliseconds timeout = std::chrono::milliseconds(0));
  // Whether everything published was acknowledged.
  bool done() const;
  // Polls until done or `timeout`; error naming what is left.
  [[nodiscard]] Status Flush(std::chrono::milliseconds timeout);

 private:
  const Clock& clock_;
  kafka::ReliablePublisher publisher_;
  std::string topic_;
  size_t max_in_flight_;
  const std::vector<config::Job>* jobs_ = nullptr;
  size_t next_job_ = 0;
  std::vector<std::string> removed_;
};

}  // namespace krond::scheduler
