#pragma once

// Reading typed fields out of decoded JSON objects. Internal to krond_messages: the
// decoders of run_messages.cc and catalog.cc share it; not part of the interface.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "common/time_format.h"
#include "messages/run_messages.h"

namespace krond::messages::internal {

using nlohmann::json;

// Reads typed fields out of a decoded object, remembering the first problem so decoders
// stay linear: read everything, then check ok().
class FieldReader {
 public:
  explicit FieldReader(const json& object) : object_(object) {}

  std::string String(const char* name, bool required = true) {
    const json* v = Find(name, required);
    if (v == nullptr) return {};
    if (!v->is_string()) return Fail(name, "expected a string"), std::string();
    return v->get<std::string>();
  }
  int64_t Int(const char* name, bool required = true, int64_t fallback = 0) {
    const json* v = Find(name, required);
    if (v == nullptr) return fallback;
    // An unsigned number above INT64_MAX would read back negative.
    if (!v->is_number_integer() || (v->is_number_unsigned() && v->get<uint64_t>() > INT64_MAX)) {
      return Fail(name, "expected an integer"), fallback;
    }
    return v->get<int64_t>();
  }
  // Int, and in [min, max]: checked before anyone narrows or adds to it.
  int64_t IntIn(const char* name, int64_t min, int64_t max, bool required = true,
                int64_t fallback = 0) {
    const bool present = Has(name);
    const int64_t value = Int(name, required, fallback);
    if (present && ok() && (value < min || value > max)) {
      Fail(name, std::to_string(value) + " is out of range (" + std::to_string(min) + ".." +
                     std::to_string(max) + ")");
      return fallback;
    }
    return value;
  }
  double Double(const char* name, double fallback, double min, double max) {
    const json* v = Find(name, false);
    if (v == nullptr) return fallback;
    if (!v->is_number()) return Fail(name, "expected a number"), fallback;
    const double value = v->get<double>();
    // !(in range) rather than (out of range): NaN is neither.
    if (!(value >= min && value <= max)) {
      Fail(name, "out of range (" + std::to_string(min) + ".." + std::to_string(max) + ")");
      return fallback;
    }
    return value;
  }
  // String, at most `max_bytes` long.
  std::string Short(const char* name, bool required = true, size_t max_bytes = kMaxNameBytes) {
    std::string value = String(name, required);
    if (value.size() > max_bytes) {
      Fail(name, "longer than " + std::to_string(max_bytes) + " bytes");
      return {};
    }
    return value;
  }
  bool Bool(const char* name, bool fallback) {
    const json* v = Find(name, false);
    if (v == nullptr) return fallback;
    if (!v->is_boolean()) return Fail(name, "expected true or false"), fallback;
    return v->get<bool>();
  }
  SystemTime Time(const char* name, bool required = true) {
    std::string text = String(name, required);
    if (text.empty()) return {};
    auto t = ParseRfc3339(text);
    if (!t) return Fail(name, t.error().message), SystemTime{};
    return *t;
  }
  std::optional<SystemTime> OptionalTime(const char* name) {
    if (!Has(name)) return std::nullopt;
    return Time(name);
  }
  std::vector<std::string> Strings(const char* name, std::vector<std::string> fallback) {
    const json* v = Find(name, false);
    if (v == nullptr) return fallback;
    std::vector<std::string> out;
    if (!v->is_array()) return Fail(name, "expected a list of strings"), fallback;
    for (const json& item : *v) {
      if (!item.is_string()) return Fail(name, "expected a list of strings"), fallback;
      out.push_back(item.get<std::string>());
    }
    return out;
  }
  // The object `name` whose values are all strings, as (key, value) in key order; empty when
  // absent or null.
  std::vector<std::pair<std::string, std::string>> StringPairs(const char* name) {
    std::vector<std::pair<std::string, std::string>> out;
    const json* v = Find(name, false);
    if (v == nullptr) return out;
    if (!v->is_object()) return Fail(name, "expected an object"), out;
    for (const auto& [key, value] : v->items()) {
      if (!value.is_string()) return Fail(std::string(name) + "." + key, "expected a string"), out;
      out.emplace_back(key, value.get<std::string>());
    }
    return out;
  }
  // Reads the nested object `name` with `read`, given a reader of it, if it is present and
  // not null. Not an object, or a problem inside it, is a problem of field `name`.
  template <class ReadFn>
  void Object(const char* name, ReadFn read) {
    const json* v = Find(name, false);
    if (v == nullptr) return;
    if (!v->is_object()) return Fail(name, "expected an object");
    FieldReader inner(*v);
    read(inner);
    if (!inner.ok()) Fail(name, inner.error());
  }
  bool Has(const char* name) const {
    auto it = object_.find(name);
    return it != object_.end() && !it->is_null();
  }
  void Fail(const std::string& name, const std::string& why) {
    if (!error_.empty()) return;
    error_ = "field \"" + name + "\": " + why;
    // Errors quote what they read (a time that does not parse), which may be huge.
    if (error_.size() > kMaxErrorBytes) error_ = TruncateUtf8(error_, kMaxErrorBytes) + "...";
  }
  bool ok() const { return error_.empty(); }
  const std::string& error() const { return error_; }

 private:
  const json* Find(const char* name, bool required) {
    auto it = object_.find(name);
    if (it == object_.end() || it->is_null()) {
      if (required) Fail(name, "missing");
      return nullptr;
    }
    return &*it;
  }
  const json& object_;
  std::string error_;
};

// Parses `text` as a JSON object with a supported version `v` (1..max_version).
inline Result<json> ParseObject(std::string_view text, int max_version = 1) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return MakeError("not valid JSON");
  if (!doc.is_object()) return MakeError("not a JSON object");
  FieldReader r(doc);
  int64_t v = r.Int("v");
  if (!r.ok()) return MakeError(r.error());
  if (v < 1 || v > max_version) {
    return MakeError("field \"v\": version " + std::to_string(v) + " is not supported (max " +
                     std::to_string(max_version) + ")");
  }
  return doc;
}

// A task object. With `job_fields_only` (the job fields of a catalog record) run_id and
// scheduled_at may be absent.
[[nodiscard]] Result<TaskMessage> TaskFromJson(const json& doc, bool job_fields_only);

}  // namespace krond::messages::internal
