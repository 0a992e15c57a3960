#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"
#include "kafka/kafka.h"
#include "messages/commit_note.h"

namespace krond::worker {

// Which offsets a worker may commit when runs finish out of order, and what it tells the
// next owner of a partition about the runs past that offset.
//
// A partition's committable offset is its lowest unfinished offset, or one past the highest
// finished offset when nothing is in flight: committing it can never skip an unfinished
// run, so a crash redelivers exactly the runs that had not finished (and perhaps some that
// had, after the last commit). Each commit carries a messages::CommitNote in its metadata:
// the offsets past the committed one whose run was started (Launched) and those finished,
// so the next owner runs a started run again without holding its starting_deadline against
// it and does not run a finished one again (Inherit, StartedBefore, FinishedBefore).
// Pure logic, not thread-safe.
class OffsetTracker {
 public:
  // A message was taken for processing.
  void Started(const std::string& topic, int32_t partition, int64_t offset);
  // Its run's command was started (recorded in the commit metadata until committed past).
  void Launched(const std::string& topic, int32_t partition, int64_t offset);
  // Its run ended and its result (and retry or dead letter) is being published.
  void Publishing(const std::string& topic, int32_t partition, int64_t offset);
  // Its processing is complete (result durable); it may now be committed past.
  void Finished(const std::string& topic, int32_t partition, int64_t offset);
  // Whether this worker has the message in hand already: a partition lost and assigned back
  // redelivers the messages whose results were still being published when it was lost.
  bool InProgress(const std::string& topic, int32_t partition, int64_t offset) const;

  // An assigned partition's last commit (offset and metadata, from Consumer::Committed),
  // made by its previous owner (or by this worker before a rebalance). Metadata that is
  // not a CommitNote is an error and is ignored: the partition's runs are then all new.
  // A partition this worker lost (Forget with lost) and gets back adds what it finished
  // itself meanwhile: those runs are not run again, though their commit never reached Kafka.
  [[nodiscard]] Status Inherit(const kafka::TopicPartition& committed);
  // Whether a previous owner had started, or finished, the run of this message (finished
  // also for any offset below the partition's last commit).
  bool StartedBefore(const std::string& topic, int32_t partition, int64_t offset) const;
  bool FinishedBefore(const std::string& topic, int32_t partition, int64_t offset) const;

  struct Commits {
    // Next-offsets with their metadata, to pass to Consumer::Commit.
    std::vector<kafka::TopicPartition> offsets;
    // Partitions whose note did not fit kafka::kMaxCommitMetadataBytes (some offsets were
    // left out of it).
    size_t truncated = 0;
  };
  // The partitions whose committable offset or note changed since the last call.
  Commits TakeCommittable();
  // Partitions taken away by a rebalance: forget them (their unfinished runs will be
  // redelivered to the new owner). Lost partitions (an expired session: the last commits may
  // have failed, e.g. with the broker down) are remembered instead until assigned again: the
  // runs that finished, and those still publishing (they finish later), but not the rest;
  // nothing of them is committed meanwhile.
  void Forget(const std::vector<kafka::TopicPartition>& partitions, bool lost = false);
  size_t InFlight() const;

 private:
  struct PartitionState {
    std::set<int64_t> in_flight;
    std::set<int64_t> launched;    // of in_flight
    std::set<int64_t> publishing;  // of in_flight
    // Lost: of the offsets taken, those that never finished (not done for Inherit).
    std::set<int64_t> dropped;
    bool lost = false;
    int64_t first_taken = -1;
    // What the previous owner's last commit said about offsets past it.
    messages::CommitNote inherited;
    int64_t next_uncommitted = -1;  // one past the highest finished offset
    int64_t committed = -1;
    std::string committed_metadata;
  };
  // The note to commit with `committable`.
  static messages::CommitNote NoteOf(PartitionState& p, int64_t committable);
  const PartitionState* Find(const std::string& topic, int32_t partition) const;

  std::map<std::pair<std::string, int32_t>, PartitionState> partitions_;
};

}  // namespace krond::worker
