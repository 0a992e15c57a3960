#include "config/job_storage.h"

#include <sys/mman.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <set>
#include <utility>

namespace krond::config::internal {

namespace {

// One set of interned names for zones and users: both are few, and a name is the same
// bytes whichever it is.
std::string_view Intern(std::string_view name) {
  static std::mutex mu;
  // Never destroyed: jobs may be read during static destruction.
  static auto* const names = new std::set<std::string, std::less<>>();
  std::lock_guard<std::mutex> lock(mu);
  auto it = names->find(name);
  if (it == names->end()) it = names->emplace(name).first;
  return *it;
}

}  // namespace

std::string_view InternZoneName(std::string_view name) { return Intern(name); }

std::string_view InternUserName(std::string_view name) { return Intern(name); }

// ---- NameLines -----------------------------------------------------------------------------

std::optional<int> NameLines::Insert(std::string_view name, int line) {
  if ((count_ + 1) * 2 > slots_.size()) Grow();
  const size_t mask = slots_.size() - 1;
  for (size_t i = Hash(name) & mask;; i = (i + 1) & mask) {
    Slot& slot = slots_[i];
    if (slot.line == 0) {
      slot = Slot{static_cast<uint32_t>(names_.size()), line};
      names_ += static_cast<char>(name.size());
      names_ += name;
      ++count_;
      return std::nullopt;
    }
    if (NameAt(slot.offset) == name) return slot.line;
  }
}

void NameLines::Grow() {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(std::max<size_t>(64, old.size() * 2), Slot{});
  const size_t mask = slots_.size() - 1;
  for (const Slot& slot : old) {
    if (slot.line == 0) continue;
    size_t i = Hash(NameAt(slot.offset)) & mask;
    while (slots_[i].line != 0) i = (i + 1) & mask;
    slots_[i] = slot;
  }
}

// ---- JobBlocks -----------------------------------------------------------------------------

void JobBlocks::Push(Job&& job) {
  if (blocks_.empty() || in_last_ == kPerBlock) {
    blocks_.reserve(blocks_.size() + 1);
    blocks_.push_back(MapBlock());
    in_last_ = 0;
  }
  new (blocks_.back() + in_last_) Job(std::move(job));
  ++in_last_;
}

std::vector<Job> JobBlocks::Take() {
  std::vector<Job> jobs;
  jobs.reserve(size());
  for (size_t b = 0; b < blocks_.size(); ++b) {
    const size_t count = Count(b);
    for (size_t i = 0; i < count; ++i) jobs.push_back(std::move(blocks_[b][i]));
    Unmap(std::exchange(blocks_[b], nullptr), count);
  }
  blocks_.clear();
  in_last_ = 0;
  return jobs;
}

void JobBlocks::Clear() {
  for (size_t b = 0; b < blocks_.size(); ++b) {
    if (blocks_[b] != nullptr) Unmap(blocks_[b], Count(b));
  }
  blocks_.clear();
  in_last_ = 0;
}

Job* JobBlocks::MapBlock() {
  void* block =
      mmap(nullptr, kBlockBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (block == MAP_FAILED) throw std::bad_alloc();
  return static_cast<Job*>(block);
}

void JobBlocks::Unmap(Job* block, size_t count) {
  std::destroy_n(block, count);
  munmap(block, kBlockBytes);
}

}  // namespace krond::config::internal
