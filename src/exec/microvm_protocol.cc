#include "exec/microvm_protocol.h"

#include <charconv>
#include <limits>
#include <vector>

namespace krond::exec {
namespace {

constexpr char kEsc = '\x1b';
constexpr std::string_view kRecordPrefix = "krond ";
// Real records are well under 100 bytes; a longer "record" is output that happens to
// contain ESC _.
constexpr std::size_t kMaxRecordBytes = 1024;

enum class Kind { kData, kStart, kExit, kBootError, kOther };

struct Segment {
  Kind kind = Kind::kData;
  std::string_view text;  // data bytes, or the record body after "krond "
};

std::optional<std::int64_t> ParseNumber(std::string_view text) {
  std::int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < 0) return std::nullopt;
  return value;
}

// The value of `key` among space-separated key=value fields, if present.
std::optional<std::string_view> Field(std::string_view fields, std::string_view key) {
  while (!fields.empty()) {
    const std::size_t space = fields.find(' ');
    const std::string_view field = fields.substr(0, space);
    if (field.size() > key.size() && field.starts_with(key) && field[key.size()] == '=') {
      return field.substr(key.size() + 1);
    }
    if (space == std::string_view::npos) break;
    fields.remove_prefix(space + 1);
  }
  return std::nullopt;
}

// `body` starts with kRecordPrefix.
Segment Classify(std::string_view body) {
  body.remove_prefix(kRecordPrefix.size());
  const std::string_view kind = body.substr(0, body.find(' '));
  if (kind == "start") return {Kind::kStart, body};
  if (kind == "exit") return {Kind::kExit, body};
  if (kind == "boot_error") return {Kind::kBootError, body};
  return {Kind::kOther, body};
}

// Splits the console into data and records in one pass.
std::vector<Segment> Split(std::string_view console) {
  std::vector<Segment> segments;
  std::size_t data_begin = 0;
  std::size_t pos = 0;
  auto flush_data = [&](std::size_t end) {
    if (end > data_begin) {
      segments.push_back({Kind::kData, console.substr(data_begin, end - data_begin)});
    }
  };
  while (true) {
    const std::size_t esc = console.find(kEsc, pos);
    if (esc == std::string_view::npos || esc + 1 >= console.size()) break;
    if (console[esc + 1] != '_') {
      pos = esc + 1;
      continue;
    }
    const std::size_t body_begin = esc + 2;
    const std::size_t end = console.find(kEsc, body_begin);
    if (end == std::string_view::npos) break;
    const std::string_view body = console.substr(body_begin, end - body_begin);
    if (end + 1 < console.size() && console[end + 1] == '\\' && body.size() <= kMaxRecordBytes &&
        body.starts_with(kRecordPrefix)) {
      flush_data(esc);
      segments.push_back(Classify(body));
      pos = data_begin = end + 2;
    } else {
      // Not ours (another program's escape sequence, or too long): output. That ESC may
      // itself open a record.
      pos = end;
    }
  }
  flush_data(console.size());
  return segments;
}

}  // namespace

ConsoleReport ParseConsole(std::string_view console) {
  const std::vector<Segment> segments = Split(console);
  constexpr std::size_t kNone = std::numeric_limits<std::size_t>::max();
  std::size_t first_start = kNone;
  std::size_t last_exit = kNone;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    if (segments[i].kind == Kind::kStart && first_start == kNone) first_start = i;
    if (segments[i].kind == Kind::kExit) last_exit = i;
  }
  // An exit record before the start record was printed by no command: ignore it.
  if (first_start != kNone && last_exit != kNone && last_exit < first_start) last_exit = kNone;

  ConsoleReport report;
  report.started = first_start != kNone || last_exit != kNone;
  const std::size_t output_begin = first_start != kNone ? first_start + 1 : 0;
  const std::size_t output_end = last_exit != kNone ? last_exit : segments.size();
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const Segment& s = segments[i];
    const bool before_start = !report.started || (first_start != kNone && i < first_start);
    if (s.kind == Kind::kData) {
      if (before_start) {
        report.boot_console.append(s.text);
      } else if (i >= output_begin && i < output_end) {
        report.output.append(s.text);
      }
    } else if (s.kind == Kind::kBootError && before_start) {
      std::string_view msg = s.text.substr(std::string_view("boot_error").size());
      if (msg.starts_with(" msg=")) msg.remove_prefix(5);
      report.boot_error = std::string(msg);
    }
  }
  auto number = [&](std::size_t index, std::string_view key) -> std::optional<std::int64_t> {
    if (index == kNone) return std::nullopt;
    std::optional<std::string_view> value = Field(segments[index].text, key);
    return value ? ParseNumber(*value) : std::nullopt;
  };
  if (last_exit != kNone) {
    if (auto status = number(last_exit, "status");
        status && *status <= std::numeric_limits<int>::max()) {
      report.status = static_cast<int>(*status);
    }
    report.run_ms = number(last_exit, "run_ms");
    report.boot_ms = number(last_exit, "boot_ms");
  }
  if (!report.boot_ms) report.boot_ms = number(first_start, "boot_ms");
  return report;
}

}  // namespace krond::exec
