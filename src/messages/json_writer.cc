#include "messages/json_writer.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <iterator>

#include "common/time_format.h"
#include "messages/run_messages.h"

namespace krond::messages {
namespace {

// Appends `text` (valid UTF-8) as a JSON string, escaping what RFC 8259 requires.
void AppendEscaped(std::string& out, std::string_view text) {
  out += '"';
  size_t plain = 0;  // start of the run of bytes that need no escaping
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(text, plain, i - plain);
    plain = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default: {
        char code[7];
        std::snprintf(code, sizeof code, "\\u%04x", c);
        out += code;
      }
    }
  }
  out.append(text, plain);
  out += '"';
}

}  // namespace

void AppendJsonString(std::string& out, std::string_view text) {
  // Invalid UTF-8 cannot travel in JSON; only text with non-ASCII bytes needs the check.
  if (std::any_of(text.begin(), text.end(), [](char c) { return c & 0x80; })) {
    AppendEscaped(out, SanitizeUtf8(text));
  } else {
    AppendEscaped(out, text);
  }
}

const std::string& TimeText::Format(SystemTime t) {
  if (text_.empty() || t != time_) {
    time_ = t;
    text_ = FormatRfc3339Utc(t);
  }
  return text_;
}

void ObjectWriter::String(std::string_view key, std::string_view value) {
  Key(key);
  AppendJsonString(out_, value);
}

void ObjectWriter::Int(std::string_view key, int64_t value) {
  Key(key);
  char digits[24];
  out_.append(digits, std::to_chars(digits, std::end(digits), value).ptr);
}

void ObjectWriter::Double(std::string_view key, double value) {
  Key(key);
  if (!std::isfinite(value)) {
    out_ += "null";
    return;
  }
  char text[32];
  const std::string_view written(text, std::to_chars(text, std::end(text), value).ptr - text);
  out_ += written;
  if (written.find_first_of(".e") == std::string_view::npos) out_ += ".0";
}

void ObjectWriter::Bool(std::string_view key, bool value) {
  Key(key);
  out_ += value ? "true" : "false";
}

void ObjectWriter::Strings(std::string_view key, const std::vector<std::string>& values) {
  Key(key);
  out_ += '[';
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out_ += ',';
    AppendJsonString(out_, values[i]);
  }
  out_ += ']';
}

ObjectWriter ObjectWriter::Object(std::string_view key) {
  Key(key);
  return ObjectWriter(out_);
}

void ObjectWriter::Key(std::string_view key) {
  if (!first_) out_ += ',';
  first_ = false;
  out_ += '"';
  out_ += key;
  out_ += "\":";
}

}  // namespace krond::messages
