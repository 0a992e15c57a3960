#pragma once

// What loading a job file holds per job, kept small: a million jobs is the design size
// (docs/benchmarks.md, "One million schedules").
//
// Internal to krond_config (job_file.cc); not part of its interface.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/job_file.h"

namespace krond::config::internal {

// Job::timezone points here. Only names that resolved to a zone are interned, so this holds
// at most the few hundred names the tz database knows. The names are never freed.
// Thread-safe.
std::string_view InternZoneName(std::string_view name);
// Job::user points here: a host has a few users, and a million jobs run as one of them share
// one copy. Only valid names (IsValidUserName) are interned; never freed. Thread-safe.
std::string_view InternUserName(std::string_view name);

// Job name -> line of its first definition, for the duplicate check. A std::map of strings
// costs about 100 bytes per name (100 MB while loading a million jobs); this keeps the names
// back to back in one buffer, indexed by an open-addressed table of 8-byte slots: about 25
// bytes per name.
// Owns copies of the names. Thread safety: none.
class NameLines {
 public:
  // Records `name` (at most 255 bytes) as first defined at `line` (>= 1) and returns
  // nullopt, or returns the line of its first definition.
  std::optional<int> Insert(std::string_view name, int line);

 private:
  struct Slot {
    uint32_t offset = 0;  // into names_; the file size cap keeps it below 2^32
    int32_t line = 0;     // 0: empty slot
  };

  static size_t Hash(std::string_view name) { return std::hash<std::string_view>{}(name); }
  // Each name is stored as one length byte followed by the name.
  std::string_view NameAt(uint32_t offset) const {
    return std::string_view(names_).substr(offset + 1, static_cast<unsigned char>(names_[offset]));
  }
  void Grow();

  std::string names_;
  std::vector<Slot> slots_;
  size_t count_ = 0;
};

// The jobs read so far, in blocks mapped straight from the kernel. JobFile::jobs must end
// up one contiguous vector, and a vector growing by doubling holds its old and new buffers
// at once: up to twice the final size (560 MB for a million jobs) at the worst moment.
// Take() moves the jobs into a vector of exactly the right size instead, unmapping each
// block as soon as it is emptied, so loading never holds much more than the final size.
// The blocks bypass malloc because memory it serves from its heap stays resident after
// being freed.
// Owns the jobs and their blocks; not copyable. Thread safety: none.
class JobBlocks {
 public:
  JobBlocks() = default;
  JobBlocks(const JobBlocks&) = delete;
  JobBlocks& operator=(const JobBlocks&) = delete;
  ~JobBlocks() { Clear(); }

  // Throws std::bad_alloc when out of memory.
  void Push(Job&& job);

  size_t size() const { return blocks_.empty() ? 0 : (blocks_.size() - 1) * kPerBlock + in_last_; }

  // Every job, in order; leaves this empty.
  std::vector<Job> Take();

  void Clear();

 private:
  static constexpr size_t kBlockBytes = size_t{2} << 20;
  static constexpr size_t kPerBlock = kBlockBytes / sizeof(Job);

  size_t Count(size_t block) const { return block + 1 == blocks_.size() ? in_last_ : kPerBlock; }

  static Job* MapBlock();
  static void Unmap(Job* block, size_t count);

  std::vector<Job*> blocks_;
  size_t in_last_ = 0;  // jobs in the last block
};

}  // namespace krond::config::internal
