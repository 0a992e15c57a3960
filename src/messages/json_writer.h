#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"

// A small JSON writer for the messages krond produces once per fire (tasks, state records):
// it writes straight into a string, where building and dumping a nlohmann::json tree was
// most of the scheduler's CPU (docs/benchmarks.md, "Scheduler fire rate").
namespace krond::messages {

// Appends `text` as a JSON string; invalid UTF-8 is replaced by U+FFFD first.
void AppendJsonString(std::string& out, std::string_view text);

// Formats like FormatRfc3339Utc, remembering the last instant. Consecutive records mostly
// share their times (every run due at one second, all produced in the same scheduler step),
// and formatting through date's streams cost more than the rest of a task's encoding.
class TimeText {
 public:
  const std::string& Format(SystemTime t);

 private:
  SystemTime time_{};
  std::string text_;
};

// Writes one JSON object, field by field, into `out`. Keys are literals of plain ASCII,
// written as they are. Not thread-safe; one writer per string.
class ObjectWriter {
 public:
  explicit ObjectWriter(std::string& out) : out_(out) { out_ += '{'; }
  void String(std::string_view key, std::string_view value);
  void Int(std::string_view key, int64_t value);
  // Shortest text that reads back as the same double; "2.0" rather than "2", so typed
  // decoders see a float, and null for NaN and infinities, which JSON cannot express (both
  // as nlohmann::json writes them).
  void Double(std::string_view key, double value);
  void Bool(std::string_view key, bool value);
  void Strings(std::string_view key, const std::vector<std::string>& values);
  // A nested object; End() it before writing the next field of this one.
  ObjectWriter Object(std::string_view key);
  void End() { out_ += '}'; }

 private:
  void Key(std::string_view key);
  std::string& out_;
  bool first_ = true;
};

}  // namespace krond::messages
