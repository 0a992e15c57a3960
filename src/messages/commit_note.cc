#include "messages/commit_note.h"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>

#include "messages/run_messages.h"

namespace krond::messages {

void OffsetRanges::AddRange(int64_t first, int64_t last) {
  // Insert, then merge with every range it overlaps or touches.
  auto it = std::lower_bound(ranges_.begin(), ranges_.end(), std::make_pair(first, last));
  it = ranges_.insert(it, {first, last});
  if (it != ranges_.begin() && std::prev(it)->second >= first - 1) --it;
  auto next = std::next(it);
  while (next != ranges_.end() && next->first <= it->second + 1) {
    it->second = std::max(it->second, next->second);
    next = ranges_.erase(next);
  }
}

bool OffsetRanges::Contains(int64_t offset) const {
  auto it = std::upper_bound(
      ranges_.begin(), ranges_.end(), offset,
      [](int64_t value, const std::pair<int64_t, int64_t>& r) { return value < r.first; });
  return it != ranges_.begin() && std::prev(it)->second >= offset;
}

void OffsetRanges::EraseBelow(int64_t offset) {
  std::erase_if(ranges_, [&](const auto& r) { return r.second < offset; });
  if (!ranges_.empty() && ranges_.front().first < offset) ranges_.front().first = offset;
}

namespace {

// Appends the ranges of `set` at or past `base` to `out` (as JSON array elements, relative
// to base) while `fits(extra)` allows; returns false once a range did not fit.
template <class Fits>
bool AppendRanges(const OffsetRanges& set, int64_t base, std::string& out, Fits fits) {
  for (auto [first, last] : set.ranges()) {
    if (last < base) continue;
    first = std::max(first, base);
    std::string item = first == last ? std::to_string(first - base)
                                     : "[" + std::to_string(first - base) + "," +
                                           std::to_string(last - base) + "]";
    if (out.back() != '[') item.insert(0, ",");
    if (!fits(item.size())) return false;
    out += item;
  }
  return true;
}

Result<OffsetRanges> ReadRanges(const nlohmann::json& doc, const char* name, int64_t base) {
  OffsetRanges out;
  if (!doc.contains(name)) return out;
  const nlohmann::json& list = doc[name];
  const std::string field = std::string("commit metadata field \"") + name + "\": ";
  if (!list.is_array()) return MakeError(field + "expected an array");
  auto offset = [&](const nlohmann::json& v) -> std::optional<int64_t> {
    if (!v.is_number_integer()) return std::nullopt;
    const int64_t rel = v.get<int64_t>();
    if (rel < 0 || rel > std::numeric_limits<int64_t>::max() - base) return std::nullopt;
    return base + rel;
  };
  for (const auto& item : list) {
    if (auto single = offset(item)) {
      out.Add(*single);
      continue;
    }
    if (item.is_array() && item.size() == 2) {
      auto first = offset(item[0]);
      auto last = offset(item[1]);
      if (first && last && *first <= *last) {
        out.AddRange(*first, *last);
        continue;
      }
    }
    return MakeError(field + "expected offsets or [first,last] ranges, got " + item.dump());
  }
  return out;
}

}  // namespace

std::string EncodeCommitNote(const CommitNote& note, int64_t committed, size_t max_bytes,
                             bool* truncated) {
  if (truncated != nullptr) *truncated = false;
  const int64_t base = std::max<int64_t>(committed, 0);
  std::string started = "[";
  std::string done = "[";
  // `{"v":1,"started":[...],"done":[...]}` without the array contents.
  constexpr size_t kFrame = sizeof(R"({"v":1,"started":[],"done":[]})") - 1;
  auto fits = [&](size_t extra) {
    return kFrame + started.size() + done.size() + extra <= max_bytes;
  };
  // Started first: a started run left out may be skipped by its deadline on the next owner,
  // a finished one left out only runs again.
  const bool all_started = AppendRanges(note.started, base, started, fits);
  const bool all_done = AppendRanges(note.done, base, done, fits);
  if (!(all_started && all_done) && truncated != nullptr) *truncated = true;
  started += "]";
  done += "]";
  if (started == "[]" && done == "[]") return "";
  std::string out = "{\"v\":" + std::to_string(kVersion);
  if (started != "[]") out += ",\"started\":" + started;
  if (done != "[]") out += ",\"done\":" + done;
  return out + "}";
}

Result<CommitNote> DecodeCommitNote(std::string_view metadata, int64_t committed) {
  CommitNote note;
  if (metadata.empty()) return note;
  auto doc = nlohmann::json::parse(metadata, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc.contains("v")) {
    return MakeError("commit metadata is not krond's: " + std::string(metadata.substr(0, 80)));
  }
  if (!doc["v"].is_number_integer() || doc["v"].get<int64_t>() < 1 ||
      doc["v"].get<int64_t>() > kVersion) {
    return MakeError("commit metadata of unknown version " + doc["v"].dump());
  }
  const int64_t base = std::max<int64_t>(committed, 0);
  auto started = ReadRanges(doc, "started", base);
  if (!started) return tl::unexpected(started.error());
  auto done = ReadRanges(doc, "done", base);
  if (!done) return tl::unexpected(done.error());
  note.started = std::move(*started);
  note.done = std::move(*done);
  return note;
}

}  // namespace krond::messages
