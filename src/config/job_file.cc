#include "config/job_file.h"

#include <date/tz.h>
#include <sys/stat.h>
#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <istream>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <tuple>
#include <utility>

#include "common/byte_size.h"
#include "common/duration.h"
#include "common/env_name.h"
#include "common/time_format.h"
#include "common/user_name.h"
#include "common/utf8.h"
#include "config/job_storage.h"
#include "config/yaml_tree.h"

namespace krond::config {
namespace {

using internal::DocumentProbe;
using internal::DocumentSink;
using internal::FileSource;
using internal::InternZoneName;
using internal::JobBlocks;
using internal::KindOf;
using internal::kMaxFileBytes;
using internal::NameLines;
using internal::Node;
using internal::Source;
using internal::TextSource;
using internal::TreeBuilder;
using std::chrono::milliseconds;

constexpr size_t kMaxNameLength = 100;
constexpr int kMaxEditDistance = 2;

constexpr std::string_view kTopLevelKeys[] = {"clusters", "defaults", "jobs"};
// Keys a job may inherit from `defaults:`; a job has these plus name, schedule, cluster and
// command.
constexpr std::string_view kDefaultsKeys[] = {
    "timezone", "timeout", "retry",   "concurrency", "catch_up", "starting_deadline",
    "sandbox",  "network", "microvm", "user",        "env",      "dispatch_ahead"};
constexpr std::string_view kJobKeys[] = {
    "name",    "schedule",    "timezone", "cluster",           "command", "timeout",
    "retry",   "concurrency", "catch_up", "starting_deadline", "sandbox", "network",
    "microvm", "user",        "env",      "dispatch_ahead"};
constexpr std::string_view kMicroVmKeys[] = {"memory", "vcpus"};
constexpr uint64_t kMinMicroVmMemoryMib = 64;
constexpr uint64_t kMaxMicroVmMemoryMib = 16 * 1024;
constexpr int kMaxMicroVmVcpus = 16;
constexpr std::string_view kRequiredJobKeys[] = {"name", "schedule", "cluster", "command"};
constexpr std::string_view kRetryKeys[] = {"max_attempts", "backoff", "max_backoff",
                                           "multiplier",   "jitter",  "retry_on"};
constexpr std::string_view kRetryOutcomes[] = {"failed", "timed_out"};

template <class E>
struct EnumName {
  std::string_view name;
  E value;
};
constexpr EnumName<ConcurrencyPolicy> kConcurrencyNames[] = {
    {"allow", ConcurrencyPolicy::kAllow},
    {"forbid", ConcurrencyPolicy::kForbid},
    {"replace", ConcurrencyPolicy::kReplace}};
constexpr EnumName<CatchUpPolicy> kCatchUpNames[] = {
    {"none", CatchUpPolicy::kNone}, {"last", CatchUpPolicy::kLast}, {"all", CatchUpPolicy::kAll}};
constexpr EnumName<SandboxMode> kSandboxNames[] = {{"none", SandboxMode::kNone},
                                                   {"bubblewrap", SandboxMode::kBubblewrap},
                                                   {"microvm", SandboxMode::kMicroVm}};

template <class E, size_t N>
std::string_view NameOf(const EnumName<E> (&names)[N], E value) {
  for (const auto& n : names) {
    if (n.value == value) return n.name;
  }
  return "?";
}

// Levenshtein distance, small strings only (keys, enum values, cluster and zone names).
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// `; did you mean "x"?` for the closest candidate within kMaxEditDistance, else "".
template <class Range>
std::string Suggestion(std::string_view word, const Range& candidates) {
  // Long inputs cannot be within 2 edits of a short name; skipping them keeps the cost flat.
  if (word.size() > 200) return "";
  std::string_view best;
  size_t best_distance = kMaxEditDistance + 1;
  for (const auto& candidate : candidates) {
    const std::string_view c(candidate);
    // The distance is at least the difference in length: skips most of the ~600 zone names.
    const size_t length_gap =
        c.size() > word.size() ? c.size() - word.size() : word.size() - c.size();
    if (length_gap >= best_distance) continue;
    const size_t d = EditDistance(word, c);
    if (d < best_distance) {
      best = c;
      best_distance = d;
    }
  }
  if (best_distance > static_cast<size_t>(kMaxEditDistance)) return "";
  return "; did you mean \"" + std::string(best) + "\"?";
}

template <class Range>
std::string JoinNames(const Range& names) {
  std::string out;
  for (const auto& name : names) {
    if (!out.empty()) out += ", ";
    out += std::string_view(name);
  }
  return out;
}

// Bounds what one message echoes back, so a 1 MB scalar does not become a 1 MB line.
std::string Quote(std::string_view text) {
  constexpr size_t kMaxQuoted = 80;
  if (text.size() > kMaxQuoted) return "\"" + std::string(text.substr(0, kMaxQuoted)) + "...\"";
  return "\"" + std::string(text) + "\"";
}

// "1", "0.5": range bounds in messages.
std::string FormatNumber(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%g", value);
  return buffer;
}

// "line 4", or "line 4, column 12" when the duplicate is on the same line (flow style).
std::string FirstAt(const YAML::Mark& first, const YAML::Mark& duplicate) {
  std::string out = "line " + std::to_string(first.line + 1);
  if (first.line == duplicate.line) out += ", column " + std::to_string(first.column + 1);
  return out;
}

bool IsValidName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
  });
}

// ---- Checking -----------------------------------------------------------------------------

// One `key: value` of a mapping. The nodes outlive it.
struct Entry {
  std::string_view key;
  const Node* key_node;
  const Node* value;
};

// Entries of one mapping in file order, keys unique.
class Mapping {
 public:
  void Add(Entry entry) { entries_.push_back(entry); }
  const Entry* Find(std::string_view key) const {
    for (const Entry& e : entries_) {
      if (e.key == key) return &e;
    }
    return nullptr;
  }

 private:
  std::vector<Entry> entries_;
};

// The fields a job may inherit from `defaults:`, starting at the defaults documented in Job
// (the MinimalJobGetsDocumentedDefaults test keeps the two in step).
struct Settings {
  // Interned (see Job::timezone) once it resolved; only a zone that resolved ends up in a
  // Job, since a bad one is reported.
  std::string_view timezone = "UTC";
  // Null when `timezone` did not resolve (already reported).
  const date::time_zone* zone = nullptr;
  milliseconds timeout{3'600'000};
  RetryPolicy retry;
  ConcurrencyPolicy concurrency = ConcurrencyPolicy::kAllow;
  CatchUpPolicy catch_up = CatchUpPolicy::kLast;
  std::optional<milliseconds> starting_deadline;
  decltype(Job::dispatch_ahead) dispatch_ahead;
  SandboxMode sandbox = SandboxMode::kNone;
  bool network = false;
  std::string_view user;  // interned
  std::shared_ptr<const Environment> env;
  uint8_t microvm_vcpus = 0;
  uint16_t microvm_memory_mib = 0;
};

// Checks a job file read as a stream of top-level entries and jobs (see TreeBuilder), and
// keeps the jobs. One per parse; not thread-safe.
class Parser final : public DocumentSink {
 public:
  // `source_bytes`: the size of the text, which bounds what its jobs may hold (kMaxJobBytes).
  Parser(std::string_view path, size_t source_bytes)
      : path_(path), max_job_bytes_(source_bytes + kMaxAliasExpansionBytes) {}

  // Parses what `source` holds, of at most kMaxFileBytes.
  std::optional<JobFile> Parse(Source& source);
  // Every problem found, sorted by position.
  std::vector<Problem> TakeProblems();

  bool OnTopKey(const Node& key) override;
  void OnTopValue(const Node& key, const Node& value, bool streamed) override;
  void OnJob(const Node& item) override;
  void OnTopEnd(const Node& root) override;

 private:
  // Problems are kept by the part of the file that raised them and joined in this order
  // before the (stable) sort by position: problems at one position then come out in the
  // same order whatever the order of the top-level keys. kIgnored collects what the second
  // reading of a file (see Parse) finds again outside the jobs.
  enum Part : size_t { kTopLevel, kClusters, kDefaults, kJobs, kIgnored, kParts };
  // Where each known key of one mapping was first seen.
  using FirstKeys = std::array<std::optional<YAML::Mark>, std::size(kJobKeys)>;
  static_assert(std::size(kJobKeys) <= std::tuple_size_v<FirstKeys>);

  void Report(const YAML::Mark& mark, std::string message) {
    // yaml-cpp marks are 0-based; a null mark (-1) means "no position", shown as 1:1.
    Problem p;
    p.file = path_;
    p.line = mark.is_null() ? 1 : mark.line + 1;
    p.column = mark.is_null() ? 1 : mark.column + 1;
    p.message = std::move(message);
    problems_[part_].push_back(std::move(p));
  }
  // A document that does not parse gets this one problem: whatever its readable part had
  // would be noise.
  void ReportSyntax(const YAML::Mark& mark, std::string message) {
    for (std::vector<Problem>& part : problems_) part.clear();
    part_ = kTopLevel;
    Report(mark, std::move(message));
    syntax_error_ = true;
  }
  bool HasProblems() const {
    return std::any_of(problems_.begin(), problems_.begin() + kIgnored,
                       [](const std::vector<Problem>& part) { return !part.empty(); });
  }

  // Where to point for a problem with an entry's value. yaml-cpp gives an empty value the
  // position of whatever token follows it, often on the next line, so those point at the key.
  static YAML::Mark ValueMark(const Entry& e) {
    if (e.value->IsNull() || e.value->Mark().is_null()) return e.key_node->Mark();
    return e.value->Mark();
  }

  static int Line(const Node& node) { return node.Mark().is_null() ? 1 : node.Mark().line + 1; }

  // Reports every NUL byte and byte that is not well-formed UTF-8 (up to a few), with its
  // position; false if there was any. yaml-cpp would replace invalid bytes with U+FFFD
  // silently, and workers would then run a different command than the file says.
  bool CheckEncoding(Source& source);
  // Parses the first document of `source`, checking it on the way; false after a syntax
  // problem.
  bool ReadDocument(Source& source);
  // Reports anything after the first document. Throws YAML::Exception on a syntax error there.
  void CheckSingleDocument(YAML::Parser& parser, Source& source);
  // A document that was built whole rather than streamed.
  void ReadRoot(const Node* root);

  // The index of `key` in `known`, or nullopt after reporting a key that is not a plain
  // string, unknown, or a duplicate (yaml-cpp keeps those silently). `what` names the
  // mapping in messages.
  std::optional<size_t> CheckKey(const Node& key, std::string_view what,
                                 std::span<const std::string_view> known, FirstKeys& first);
  std::optional<Mapping> ReadMapping(const Node& node, const YAML::Mark& mark,
                                     std::string_view what,
                                     std::span<const std::string_view> known);

  std::optional<std::string> ReadString(const Entry& e, std::string_view field);
  std::optional<milliseconds> ReadDuration(const Entry& e, std::string_view field);
  // `dispatch_ahead:`, a duration in 0..kMaxDispatchAhead ("0" is allowed, unlike other
  // durations).
  decltype(Job::dispatch_ahead) ReadDispatchAhead(const Entry& e);
  std::optional<double> ReadNumber(const Entry& e, std::string_view field, double min, double max);
  std::optional<int> ReadInt(const Entry& e, std::string_view field, int min, int max);
  std::optional<bool> ReadBool(const Entry& e, std::string_view field);
  template <class E, size_t N>
  std::optional<E> ReadEnum(const Entry& e, std::string_view field, const EnumName<E> (&names)[N]);

  std::vector<std::string> ReadClusters(const Entry& e);
  // Applies the inheritable keys present in `m` on top of `settings`.
  void ReadSettings(const Mapping& m, Settings& settings);
  void ReadRetry(const Entry& e, RetryPolicy& retry);
  void ReadMicroVm(const Entry& e, Settings& settings);
  // Sets `env` to its entries with those of `e` over them, name by name.
  void ReadEnv(const Entry& e, std::shared_ptr<const Environment>& env);
  const date::time_zone* ReadZone(const Entry& e);
  std::optional<Job> ReadJob(const Node& node);
  // The parts of a job: each reports its own problems, and ReadJob drops a job with any.
  std::optional<std::string> ReadJobName(const Entry& e, int line);
  // `defaults:` with the job's own keys over them, made consistent with its sandbox.
  Settings ReadJobSettings(const Mapping& m);
  std::optional<std::string> ReadJobCluster(const Entry& e);
  std::optional<std::string> ReadJobCommand(const Entry& e);
  // `zone` null: the job's zone was bad (and reported); the expression is checked in UTC.
  std::optional<cron::Schedule> ReadJobSchedule(const Entry& e, const date::time_zone* zone);

  std::string path_;
  std::array<std::vector<Problem>, kParts> problems_;
  Part part_ = kTopLevel;
  bool syntax_error_ = false;
  // Reading the text again for the jobs only (see Parse).
  bool second_pass_ = false;

  FirstKeys top_keys_{};
  // The top-level key whose value comes next (an index in kTopLevelKeys), if it is usable.
  std::optional<size_t> top_key_;
  bool clusters_seen_ = false;
  bool jobs_seen_ = false;
  // Whether the jobs being read are checked on this reading, and whether they can still end
  // up in the result.
  bool check_jobs_ = false;
  bool keep_jobs_ = false;
  // The jobs came before `clusters` or `defaults`: they are (re)checked by a second reading.
  bool read_jobs_again_ = false;

  JobFile file_;
  // Bytes of the strings the kept jobs hold, and the most they may hold.
  size_t job_bytes_ = 0;
  const size_t max_job_bytes_;
  std::set<std::string, std::less<>> cluster_set_;
  Settings defaults_;
  NameLines job_lines_;
  JobBlocks jobs_;
};

std::vector<Problem> Parser::TakeProblems() {
  std::vector<Problem> all;
  for (size_t part = 0; part < kIgnored; ++part) {
    std::move(problems_[part].begin(), problems_[part].end(), std::back_inserter(all));
    problems_[part].clear();
  }
  std::stable_sort(all.begin(), all.end(), [](const Problem& a, const Problem& b) {
    return std::tie(a.line, a.column) < std::tie(b.line, b.column);
  });
  return all;
}

std::optional<size_t> Parser::CheckKey(const Node& key, std::string_view what,
                                       std::span<const std::string_view> known, FirstKeys& first) {
  if (!key.IsScalar()) {
    Report(key.Mark(),
           std::string(what) + ": keys must be plain strings, got " + std::string(KindOf(key)));
    return std::nullopt;
  }
  const std::string& name = key.Scalar();
  const auto it = std::find(known.begin(), known.end(), name);
  if (it == known.end()) {
    std::string suggestion = Suggestion(name, known);
    if (suggestion.empty()) suggestion = " (known keys: " + JoinNames(known) + ")";
    Report(key.Mark(), "unknown key " + Quote(name) + " in " + std::string(what) + suggestion);
    return std::nullopt;
  }
  const auto index = static_cast<size_t>(it - known.begin());
  if (first[index]) {
    Report(key.Mark(), "duplicate key " + Quote(name) + " (first at " +
                           FirstAt(*first[index], key.Mark()) + ")");
    return std::nullopt;
  }
  first[index] = key.Mark();
  return index;
}

std::optional<Mapping> Parser::ReadMapping(const Node& node, const YAML::Mark& mark,
                                           std::string_view what,
                                           std::span<const std::string_view> known) {
  if (!node.IsMap()) {
    Report(mark, std::string(what) + ": expected a mapping, got " + std::string(KindOf(node)));
    return std::nullopt;
  }
  Mapping mapping;
  FirstKeys first{};
  const std::vector<const Node*>& c = node.children;
  for (size_t i = 0; i + 1 < c.size(); i += 2) {
    if (std::optional<size_t> index = CheckKey(*c[i], what, known, first)) {
      mapping.Add(Entry{known[*index], c[i], c[i + 1]});
    }
  }
  return mapping;
}

std::optional<std::string> Parser::ReadString(const Entry& e, std::string_view field) {
  if (!e.value->IsScalar()) {
    Report(ValueMark(e),
           std::string(field) + ": expected a string, got " + std::string(KindOf(*e.value)));
    return std::nullopt;
  }
  return e.value->Scalar();
}

std::optional<milliseconds> Parser::ReadDuration(const Entry& e, std::string_view field) {
  if (!e.value->IsScalar()) {
    Report(ValueMark(e), std::string(field) + ": expected a duration such as 30s or 1h30m, got " +
                             std::string(KindOf(*e.value)));
    return std::nullopt;
  }
  Result<milliseconds> d = ParseDuration(e.value->Scalar());
  if (!d) {
    Report(ValueMark(e), std::string(field) + ": " + d.error().message);
    return std::nullopt;
  }
  return *d;
}

decltype(Job::dispatch_ahead) Parser::ReadDispatchAhead(const Entry& e) {
  // A zero in any unit: "0", "0s", "00ms".
  constexpr std::string_view kZeroUnits[] = {"ms", "s", "m", "h", "d"};
  const std::string range = " (allowed 0.." + FormatDuration(kMaxDispatchAhead) + ")";
  if (!e.value->IsScalar()) {
    Report(ValueMark(e), "dispatch_ahead: expected a duration such as 2s" + range + ", got " +
                             std::string(KindOf(*e.value)));
    return std::nullopt;
  }
  const std::string& text = e.value->Scalar();
  // ParseDuration takes only positive durations; 0 turns lookahead off for the job.
  const size_t digits = text.find_first_not_of('0');
  if (!text.empty() && digits != 0 &&
      (digits == std::string::npos ||
       std::ranges::find(kZeroUnits, std::string_view(text).substr(digits)) !=
           std::end(kZeroUnits))) {
    return std::chrono::duration<int32_t, std::milli>(0);
  }
  if (!text.empty() && text[0] == '-') {
    Report(ValueMark(e), "dispatch_ahead: " + Quote(text) + " is negative" + range);
    return std::nullopt;
  }
  Result<milliseconds> d = ParseDuration(text);
  if (!d) {
    Report(ValueMark(e), "dispatch_ahead: " + d.error().message);
    return std::nullopt;
  }
  if (*d > kMaxDispatchAhead) {
    Report(ValueMark(e), "dispatch_ahead: " + Quote(text) + " is too long" + range +
                             ": a worker holds an early run in memory until its instant");
    return std::nullopt;
  }
  return std::chrono::duration<int32_t, std::milli>(d->count());
}

std::optional<double> Parser::ReadNumber(const Entry& e, std::string_view field, double min,
                                         double max) {
  const std::string range = " (allowed " + FormatNumber(min) + ".." + FormatNumber(max) + ")";
  if (!e.value->IsScalar()) {
    Report(ValueMark(e), std::string(field) + ": expected a number" + range + ", got " +
                             std::string(KindOf(*e.value)));
    return std::nullopt;
  }
  const std::string& text = e.value->Scalar();
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) {
    Report(ValueMark(e),
           std::string(field) + ": expected a number" + range + ", got " + Quote(text));
    return std::nullopt;
  }
  if (value < min || value > max) {
    Report(ValueMark(e), std::string(field) + ": " + text + " is out of range" + range);
    return std::nullopt;
  }
  return value;
}

std::optional<int> Parser::ReadInt(const Entry& e, std::string_view field, int min, int max) {
  const std::string range = " (allowed " + std::to_string(min) + ".." + std::to_string(max) + ")";
  if (!e.value->IsScalar()) {
    Report(ValueMark(e), std::string(field) + ": expected an integer" + range + ", got " +
                             std::string(KindOf(*e.value)));
    return std::nullopt;
  }
  const std::string& text = e.value->Scalar();
  long long value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec == std::errc::result_out_of_range) {
    Report(ValueMark(e), std::string(field) + ": " + Quote(text) + " is out of range" + range);
    return std::nullopt;
  }
  if (ec != std::errc() || end != text.data() + text.size()) {
    Report(ValueMark(e),
           std::string(field) + ": expected an integer" + range + ", got " + Quote(text));
    return std::nullopt;
  }
  if (value < min || value > max) {
    Report(ValueMark(e), std::string(field) + ": " + text + " is out of range" + range);
    return std::nullopt;
  }
  return static_cast<int>(value);
}

std::optional<bool> Parser::ReadBool(const Entry& e, std::string_view field) {
  // Only the YAML 1.2 spellings: yes/no/on/off are YAML 1.1 traps (the Norway problem).
  if (e.value->IsScalar()) {
    const std::string& text = e.value->Scalar();
    if (text == "true") return true;
    if (text == "false") return false;
  }
  Report(ValueMark(e),
         std::string(field) + ": expected true or false, got " +
             (e.value->IsScalar() ? Quote(e.value->Scalar()) : std::string(KindOf(*e.value))));
  return std::nullopt;
}

template <class E, size_t N>
std::optional<E> Parser::ReadEnum(const Entry& e, std::string_view field,
                                  const EnumName<E> (&names)[N]) {
  std::vector<std::string_view> spellings;
  for (const auto& n : names) spellings.push_back(n.name);
  if (!e.value->IsScalar()) {
    Report(ValueMark(e), std::string(field) + ": expected one of " + JoinNames(spellings) +
                             ", got " + std::string(KindOf(*e.value)));
    return std::nullopt;
  }
  const std::string& text = e.value->Scalar();
  for (const auto& n : names) {
    if (n.name == text) return n.value;
  }
  Report(ValueMark(e), std::string(field) + ": " + Quote(text) + " is not one of " +
                           JoinNames(spellings) + Suggestion(text, spellings));
  return std::nullopt;
}

std::vector<std::string> Parser::ReadClusters(const Entry& e) {
  std::vector<std::string> clusters;
  if (!e.value->IsSequence()) {
    Report(ValueMark(e),
           "clusters: expected a list of cluster names, got " + std::string(KindOf(*e.value)));
    return clusters;
  }
  if (e.value->children.empty()) {
    Report(ValueMark(e), "clusters: must list at least one cluster");
    return clusters;
  }
  std::map<std::string, YAML::Mark, std::less<>> marks;
  for (const Node* item : e.value->children) {
    if (!item->IsScalar()) {
      Report(item->Mark(), "clusters: expected a cluster name, got " + std::string(KindOf(*item)));
      continue;
    }
    const std::string& name = item->Scalar();
    if (!IsValidName(name)) {
      Report(item->Mark(), "clusters: " + Quote(name) +
                               " is not a valid cluster name (use 1..100 characters from a-z, "
                               "0-9, '.', '_', '-'; it becomes part of Kafka topic names)");
      continue;
    }
    auto [first, inserted] = marks.emplace(name, item->Mark());
    if (!inserted) {
      Report(item->Mark(), "clusters: duplicate cluster " + Quote(name) + " (first at " +
                               FirstAt(first->second, item->Mark()) + ")");
      continue;
    }
    clusters.push_back(name);
  }
  return clusters;
}

const date::time_zone* Parser::ReadZone(const Entry& e) {
  std::optional<std::string> name = ReadString(e, "timezone");
  if (!name) return nullptr;
  Result<const date::time_zone*> zone = LocateZone(*name);
  if (zone) return *zone;
  std::string suggestion;
  try {
    std::vector<std::string_view> names;
    const date::tzdb& db = date::get_tzdb();
    for (const date::time_zone& z : db.zones) names.push_back(z.name());
    suggestion = Suggestion(*name, names);
  } catch (const std::exception&) {
    // No tzdata to suggest from: the message without a suggestion is still right.
  }
  Report(ValueMark(e), "timezone: " + zone.error().message + suggestion);
  return nullptr;
}

void Parser::ReadRetry(const Entry& e, RetryPolicy& retry) {
  std::optional<Mapping> m = ReadMapping(*e.value, ValueMark(e), "retry", kRetryKeys);
  if (!m) return;
  if (const Entry* f = m->Find("max_attempts")) {
    if (auto v = ReadInt(*f, "retry.max_attempts", 1, 100)) retry.max_attempts = *v;
  }
  bool delays_valid = true;
  const Entry* backoff = m->Find("backoff");
  if (backoff != nullptr) {
    auto v = ReadDuration(*backoff, "retry.backoff");
    if (v) retry.backoff = *v;
    delays_valid = delays_valid && v.has_value();
  }
  const Entry* max_backoff = m->Find("max_backoff");
  if (max_backoff != nullptr) {
    auto v = ReadDuration(*max_backoff, "retry.max_backoff");
    if (v) retry.max_backoff = *v;
    delays_valid = delays_valid && v.has_value();
  }
  // Checked only where one of the two is written: an inherited pair was checked in defaults.
  if (delays_valid && (backoff != nullptr || max_backoff != nullptr) &&
      retry.max_backoff < retry.backoff) {
    Report(ValueMark(max_backoff != nullptr ? *max_backoff : *backoff),
           "retry.max_backoff " + FormatDuration(retry.max_backoff) +
               " is less than retry.backoff " + FormatDuration(retry.backoff));
  }
  if (const Entry* f = m->Find("multiplier")) {
    if (auto v = ReadNumber(*f, "retry.multiplier", 1, 10)) retry.multiplier = *v;
  }
  if (const Entry* f = m->Find("jitter")) {
    if (auto v = ReadNumber(*f, "retry.jitter", 0, 1)) retry.jitter = *v;
  }
  if (const Entry* f = m->Find("retry_on")) {
    if (!f->value->IsSequence()) {
      Report(ValueMark(*f), "retry.retry_on: expected a list of " + JoinNames(kRetryOutcomes) +
                                ", got " + std::string(KindOf(*f->value)));
      return;
    }
    bool failed = false;
    bool timed_out = false;
    for (const Node* item : f->value->children) {
      if (!item->IsScalar()) {
        Report(item->Mark(), "retry.retry_on: expected one of " + JoinNames(kRetryOutcomes) +
                                 ", got " + std::string(KindOf(*item)));
        continue;
      }
      const std::string& outcome = item->Scalar();
      bool* listed = outcome == "failed" ? &failed : outcome == "timed_out" ? &timed_out : nullptr;
      if (listed == nullptr) {
        Report(item->Mark(), "retry.retry_on: " + Quote(outcome) + " is not one of " +
                                 JoinNames(kRetryOutcomes) + Suggestion(outcome, kRetryOutcomes));
        continue;
      }
      if (*listed) {
        Report(item->Mark(), "retry.retry_on: " + Quote(outcome) + " is listed twice");
        continue;
      }
      *listed = true;
    }
    retry.retry_failed = failed;
    retry.retry_timed_out = timed_out;
  }
}

void Parser::ReadSettings(const Mapping& m, Settings& settings) {
  if (const Entry* e = m.Find("timezone")) {
    settings.zone = ReadZone(*e);
    if (settings.zone != nullptr) settings.timezone = InternZoneName(e->value->Scalar());
  }
  if (const Entry* e = m.Find("timeout")) {
    if (auto v = ReadDuration(*e, "timeout")) settings.timeout = *v;
  }
  if (const Entry* e = m.Find("retry")) ReadRetry(*e, settings.retry);
  if (const Entry* e = m.Find("concurrency")) {
    if (auto v = ReadEnum(*e, "concurrency", kConcurrencyNames)) settings.concurrency = *v;
  }
  if (const Entry* e = m.Find("catch_up")) {
    if (auto v = ReadEnum(*e, "catch_up", kCatchUpNames)) settings.catch_up = *v;
  }
  if (const Entry* e = m.Find("starting_deadline")) {
    if (auto v = ReadDuration(*e, "starting_deadline")) settings.starting_deadline = *v;
  }
  if (const Entry* e = m.Find("dispatch_ahead")) {
    if (auto v = ReadDispatchAhead(*e)) settings.dispatch_ahead = *v;
  }
  if (const Entry* e = m.Find("sandbox")) {
    if (auto v = ReadEnum(*e, "sandbox", kSandboxNames)) settings.sandbox = *v;
  }
  if (const Entry* e = m.Find("network")) {
    if (auto v = ReadBool(*e, "network")) {
      settings.network = *v;
      // Unsandboxed commands always have the network; asking for it there is a misunderstanding
      // worth pointing out.
      if (*v && settings.sandbox == SandboxMode::kNone) {
        Report(ValueMark(*e),
               "network: true has no effect without sandbox: bubblewrap or microvm "
               "(unsandboxed commands always have the network)");
      }
    }
  }
  if (const Entry* e = m.Find("microvm")) ReadMicroVm(*e, settings);
  if (const Entry* e = m.Find("env")) ReadEnv(*e, settings.env);
  if (const Entry* e = m.Find("user")) {
    if (std::optional<std::string> v = ReadString(*e, "user")) {
      if (IsValidUserName(*v)) {
        settings.user = internal::InternUserName(*v);
      } else {
        Report(ValueMark(*e), "user: " + Quote(*v) +
                                  " is not a valid user name (1..32 of a-z A-Z 0-9 _ . -, not "
                                  "starting with '-', not all digits)");
      }
    }
  }
}

void Parser::ReadMicroVm(const Entry& e, Settings& settings) {
  std::optional<Mapping> m = ReadMapping(*e.value, ValueMark(e), "microvm", kMicroVmKeys);
  if (!m) return;
  if (settings.sandbox != SandboxMode::kMicroVm) {
    Report(ValueMark(e), "microvm: has no effect without sandbox: microvm");
  }
  if (const Entry* f = m->Find("vcpus")) {
    if (auto v = ReadInt(*f, "microvm.vcpus", 1, kMaxMicroVmVcpus)) {
      settings.microvm_vcpus = static_cast<uint8_t>(*v);
    }
  }
  if (const Entry* f = m->Find("memory")) {
    const std::string range = " (allowed 64MiB..16GiB, in whole MiB)";
    std::optional<uint64_t> bytes;
    if (f->value->IsScalar()) bytes = ParseByteSize(f->value->Scalar());
    if (!bytes) {
      Report(ValueMark(*f), "microvm.memory: expected a size such as 256MiB or 1GiB" + range +
                                (f->value->IsScalar() ? ", got " + Quote(f->value->Scalar())
                                                      : ", got " + std::string(KindOf(*f->value))));
    } else if (*bytes % (1 << 20) != 0 || *bytes / (1 << 20) < kMinMicroVmMemoryMib ||
               *bytes / (1 << 20) > kMaxMicroVmMemoryMib) {
      Report(ValueMark(*f), "microvm.memory: " + f->value->Scalar() + " is out of range" + range);
    } else {
      settings.microvm_memory_mib = static_cast<uint16_t>(*bytes / (1 << 20));
    }
  }
}

void Parser::ReadEnv(const Entry& e, std::shared_ptr<const Environment>& env) {
  if (!e.value->IsMap()) {
    Report(ValueMark(e), "env: expected a mapping of variable names to values, got " +
                             std::string(KindOf(*e.value)));
    return;
  }
  // Sorted by name, as Environment is; the inherited entries first, then overridden.
  std::map<std::string, std::string, std::less<>> merged;
  if (env) merged.insert(env->begin(), env->end());
  std::map<std::string, YAML::Mark, std::less<>> first;
  const std::vector<const Node*>& c = e.value->children;
  for (size_t i = 0; i + 1 < c.size(); i += 2) {
    const Node& key = *c[i];
    const Node& value = *c[i + 1];
    if (!key.IsScalar()) {
      Report(key.Mark(),
             "env: variable names must be plain strings, got " + std::string(KindOf(key)));
      continue;
    }
    const std::string& name = key.Scalar();
    if (!IsValidEnvName(name)) {
      Report(key.Mark(), "env: " + Quote(name) +
                             " is not a valid variable name (1..256 of A-Z a-z 0-9 _, not "
                             "starting with a digit)");
      continue;
    }
    if (IsReservedEnvName(name)) {
      Report(key.Mark(), "env: " + Quote(name) +
                             " is reserved (krond sets the KROND_* variables of every run)");
      continue;
    }
    auto [at, inserted] = first.emplace(name, key.Mark());
    if (!inserted) {
      Report(key.Mark(), "env: duplicate variable " + Quote(name) + " (first at " +
                             FirstAt(at->second, key.Mark()) + ")");
      continue;
    }
    // Any scalar, as written: `PORT: 8080` is the string "8080".
    if (!value.IsScalar()) {
      Report(ValueMark(Entry{name, &key, &value}),
             "env." + name + ": expected a string, got " + std::string(KindOf(value)));
      continue;
    }
    merged.insert_or_assign(name, value.Scalar());
  }
  size_t bytes = 0;
  for (const auto& [name, value] : merged) bytes += name.size() + value.size();
  if (bytes > kMaxEnvBytes) {
    Report(ValueMark(e), "env: " + std::to_string(bytes) + " bytes of names and values, at most " +
                             std::to_string(kMaxEnvBytes) +
                             " (a run travels in one Kafka message)");
    return;
  }
  env =
      merged.empty() ? nullptr : std::make_shared<const Environment>(merged.begin(), merged.end());
}

std::optional<std::string> Parser::ReadJobName(const Entry& e, int line) {
  std::optional<std::string> name = ReadString(e, "name");
  if (!name) return std::nullopt;
  if (!IsValidName(*name)) {
    Report(ValueMark(e), "name: " + Quote(*name) +
                             " is not a valid job name (use 1..100 characters from a-z, 0-9, "
                             "'.', '_', '-')");
    return std::nullopt;
  }
  if (std::optional<int> first = job_lines_.Insert(*name, line)) {
    Report(ValueMark(e), "name: duplicate job name " + Quote(*name) + " (first defined at line " +
                             std::to_string(*first) + ")");
  }
  return name;
}

Settings Parser::ReadJobSettings(const Mapping& m) {
  Settings settings = defaults_;
  ReadSettings(m, settings);
  if (settings.sandbox == SandboxMode::kNone) settings.network = false;
  if (settings.sandbox != SandboxMode::kNone) {
    if (const Entry* e = m.Find("user")) {
      Report(ValueMark(*e),
             "user: cannot be combined with sandbox: " + std::string(ToString(settings.sandbox)) +
                 " (the sandbox runs the command as its own unprivileged user)");
    }
    settings.user = {};
  }
  // Sizes inherited from `defaults:` apply only to the jobs that run in a microVM.
  if (settings.sandbox != SandboxMode::kMicroVm) {
    settings.microvm_vcpus = 0;
    settings.microvm_memory_mib = 0;
  }
  return settings;
}

std::optional<std::string> Parser::ReadJobCluster(const Entry& e) {
  std::optional<std::string> cluster = ReadString(e, "cluster");
  if (cluster && !cluster_set_.contains(*cluster)) {
    std::string suggestion = Suggestion(*cluster, cluster_set_);
    // Listing them helps with a few clusters and drowns the message with many.
    constexpr size_t kMaxListed = 10;
    if (suggestion.empty() && !cluster_set_.empty() && cluster_set_.size() <= kMaxListed) {
      suggestion = " (clusters: " + JoinNames(cluster_set_) + ")";
    }
    Report(ValueMark(e), "cluster: unknown cluster " + Quote(*cluster) + suggestion);
  }
  return cluster;
}

std::optional<std::string> Parser::ReadJobCommand(const Entry& e) {
  std::optional<std::string> command = ReadString(e, "command");
  if (command && command->find_first_not_of(" \t\r\n") == std::string::npos) {
    Report(ValueMark(e), "command: must not be empty");
  } else if (command && command->size() > kMaxCommandBytes) {
    Report(ValueMark(e), "command: " + std::to_string(command->size()) + " bytes, at most " +
                             std::to_string(kMaxCommandBytes) +
                             " (a run travels in one Kafka message)");
    return std::nullopt;
  }
  return command;
}

std::optional<cron::Schedule> Parser::ReadJobSchedule(const Entry& e, const date::time_zone* zone) {
  std::optional<std::string> text = ReadString(e, "schedule");
  if (!text) return std::nullopt;
  if (text->empty()) {
    Report(ValueMark(e), "schedule: must not be empty");
    return std::nullopt;
  }
  // With a bad zone (already reported) the expression is still checked, in UTC.
  if (zone == nullptr) {
    if (Result<const date::time_zone*> utc = LocateZone("UTC")) zone = *utc;
  }
  if (zone == nullptr) return std::nullopt;
  Result<cron::Schedule> parsed = cron::Schedule::Parse(*text, zone);
  if (!parsed) {
    Report(ValueMark(e), "schedule " + Quote(*text) + ": " + parsed.error().message);
    return std::nullopt;
  }
  return std::move(*parsed);
}

std::optional<Job> Parser::ReadJob(const Node& node) {
  const size_t problems_before = problems_[kJobs].size();
  std::optional<Mapping> m = ReadMapping(node, node.Mark(), "job", kJobKeys);
  if (!m) return std::nullopt;

  std::optional<std::string> name;
  if (const Entry* e = m->Find("name")) name = ReadJobName(*e, Line(node));
  for (std::string_view key : kRequiredJobKeys) {
    if (m->Find(key) == nullptr) {
      Report(node.Mark(), (name ? "job " + Quote(*name) : std::string("job")) +
                              " is missing required key " + Quote(key));
    }
  }
  Settings settings = ReadJobSettings(*m);
  std::optional<std::string> cluster;
  if (const Entry* e = m->Find("cluster")) cluster = ReadJobCluster(*e);
  std::optional<std::string> command;
  if (const Entry* e = m->Find("command")) command = ReadJobCommand(*e);
  std::optional<cron::Schedule> schedule;
  if (const Entry* e = m->Find("schedule")) schedule = ReadJobSchedule(*e, settings.zone);

  if (problems_[kJobs].size() != problems_before || !name || !schedule || !cluster || !command) {
    return std::nullopt;
  }
  return Job{.name = std::move(*name),
             .schedule = std::move(*schedule),
             .timezone = settings.timezone,
             .cluster = std::move(*cluster),
             .user = settings.user,
             .command = std::move(*command),
             .env = std::move(settings.env),
             .timeout = settings.timeout,
             .retry = settings.retry,
             .starting_deadline = settings.starting_deadline,
             .dispatch_ahead = settings.dispatch_ahead,
             .line = Line(node),
             .concurrency = settings.concurrency,
             .catch_up = settings.catch_up,
             .sandbox = settings.sandbox,
             .network = settings.network,
             .microvm_vcpus = settings.microvm_vcpus,
             .microvm_memory_mib = settings.microvm_memory_mib};
}

bool Parser::OnTopKey(const Node& key) {
  part_ = second_pass_ ? kIgnored : kTopLevel;
  top_key_ = CheckKey(key, "job file", kTopLevelKeys, top_keys_);
  if (!top_key_ || kTopLevelKeys[*top_key_] != "jobs") return false;
  jobs_seen_ = true;
  // Before `clusters`, checking the jobs would only find that every cluster is unknown (a
  // million problems, about 170 MB, for a million jobs): they are checked on a second reading,
  // against the clusters that came later or, if none did, against none.
  check_jobs_ = clusters_seen_ || second_pass_;
  keep_jobs_ = check_jobs_;
  if (!check_jobs_) read_jobs_again_ = true;
  return true;
}

void Parser::OnTopValue(const Node& key, const Node& value, bool streamed) {
  if (!top_key_) return;
  const Entry e{kTopLevelKeys[*top_key_], &key, &value};
  top_key_.reset();
  if (e.key == "jobs") {
    part_ = kJobs;
    if (streamed || value.IsNull() || !check_jobs_) return;
    if (!value.IsSequence()) {
      Report(ValueMark(e), "jobs: expected a list of jobs, got " + std::string(KindOf(value)));
      return;
    }
    for (const Node* item : value.children) OnJob(*item);
    return;
  }
  if (second_pass_) return;
  // The jobs were checked with the defaults known when they came.
  if (jobs_seen_) read_jobs_again_ = true;
  if (e.key == "clusters") {
    part_ = kClusters;
    clusters_seen_ = true;
    file_.clusters = ReadClusters(e);
    cluster_set_ = std::set<std::string, std::less<>>(file_.clusters.begin(), file_.clusters.end());
  } else if (e.key == "defaults" && !value.IsNull()) {
    part_ = kDefaults;
    if (std::optional<Mapping> m = ReadMapping(value, ValueMark(e), "defaults", kDefaultsKeys)) {
      ReadSettings(*m, defaults_);
    }
  }
}

void Parser::OnJob(const Node& item) {
  if (!check_jobs_) return;
  part_ = kJobs;
  std::optional<Job> job = ReadJob(item);
  if (!keep_jobs_) return;
  if (job) {
    // Anchors and aliases let a small file repeat a large string in every job; each Job
    // holds its own copy. Checked before the copy is kept, so memory stays bounded.
    job_bytes_ += job->name.size() + job->cluster.size() + job->command.size();
    // An `env:` of the job's own (one inherited from `defaults:` is shared, not copied).
    if (job->env && job->env != defaults_.env) {
      for (const auto& [name, value] : *job->env) job_bytes_ += name.size() + value.size();
    }
    if (job_bytes_ > max_job_bytes_) {
      Report(item.Mark(),
             "the jobs up to here hold " + std::to_string(job_bytes_) +
                 " bytes of names, commands and env:, more than the file's size plus " +
                 std::to_string(kMaxAliasExpansionBytes >> 20) +
                 " MiB: anchors and aliases repeat too much text");
      job.reset();
    }
  }
  if (!job || HasProblems()) {
    // The file is rejected: free what was kept for it, and stop keeping.
    keep_jobs_ = false;
    jobs_.Clear();
    return;
  }
  jobs_.Push(std::move(*job));
}

void Parser::OnTopEnd(const Node& root) {
  if (second_pass_ || clusters_seen_) return;
  part_ = kClusters;
  Report(root.Mark(), "missing required key \"clusters\" (the clusters jobs run on)");
}

void Parser::ReadRoot(const Node* root) {
  part_ = second_pass_ ? kIgnored : kTopLevel;
  if (root == nullptr || root->IsNull()) {
    Report(YAML::Mark::null_mark(),
           "the job file is empty: expected a mapping with keys clusters and jobs");
    return;
  }
  if (!root->IsMap()) {
    Report(root->Mark(), "job file: expected a mapping, got " + std::string(KindOf(*root)));
    return;
  }
  const std::vector<const Node*>& c = root->children;
  for (size_t i = 0; i + 1 < c.size(); i += 2) {
    OnTopKey(*c[i]);
    OnTopValue(*c[i], *c[i + 1], false);
  }
  OnTopEnd(*root);
}

void Parser::CheckSingleDocument(YAML::Parser& parser, Source& source) {
  // yaml-cpp 0.7's LoadAll never returns on a stray flow token such as "," (it appends empty
  // documents forever, jbeder/yaml-cpp#1040, fixed upstream in #1319), and Load silently
  // ignores whatever follows the first document. So the rest is walked here, one bounded step.
  DocumentProbe second;
  if (!parser.HandleNextDocument(second)) return;
  const YAML::Mark& mark = second.start();
  const bool explicit_start = !mark.is_null() && source.HasAt(static_cast<size_t>(mark.pos), "---");
  if (!explicit_start) {
    ReportSyntax(mark, "YAML syntax error: unexpected text after the end of the document");
  } else if (second.has_nodes()) {
    ReportSyntax(mark, "only one YAML document is allowed in a job file");
  }
}

bool Parser::CheckEncoding(Source& source) {
  constexpr size_t kMaxReported = 10;
  size_t reported = 0;
  std::streambuf& in = source.Rewind();
  // A character may straddle two chunks: `pending` holds the start of one.
  std::string pending;
  std::array<char, 64 * 1024> chunk;
  int line = 1;
  int column = 1;
  bool at_end = false;
  while (!at_end && reported < kMaxReported) {
    const std::streamsize n = in.sgetn(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    at_end = n < static_cast<std::streamsize>(chunk.size());
    pending.append(chunk.data(), static_cast<size_t>(std::max<std::streamsize>(n, 0)));
    std::string_view text = pending;
    while (!text.empty() && reported < kMaxReported) {
      // Wait for the rest of a character cut by the chunk's end (at most 3 more bytes).
      if (!at_end && text.size() < 4 && static_cast<unsigned char>(text[0]) >= 0x80) break;
      size_t length = Utf8SequenceLength(text);
      if (length == 0 || text[0] == '\0') {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned char>(text[0]));
        problems_[kTopLevel].push_back(Problem{
            path_, line, column,
            text[0] == '\0'
                ? std::string("NUL byte: a job file must be text")
                : std::string("invalid UTF-8 (byte ") + hex + "): a job file must be UTF-8 text"});
        ++reported;
        length = 1;
      }
      if (text[0] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
      text.remove_prefix(length);
    }
    pending.erase(0, pending.size() - text.size());
  }
  return reported == 0;
}

bool Parser::ReadDocument(Source& source) {
  std::istream stream(&source.Rewind());
  TreeBuilder builder(*this);
  try {
    YAML::Parser parser(stream);
    if (parser.HandleNextDocument(builder) && !second_pass_) CheckSingleDocument(parser, source);
  } catch (const YAML::DeepRecursion& e) {
    ReportSyntax(e.mark, "YAML nesting is too deep");
  } catch (const YAML::Exception& e) {
    ReportSyntax(e.mark, "YAML syntax error: " + e.msg);
  }
  if (syntax_error_) return false;
  if (!builder.streamed()) ReadRoot(builder.root());
  return true;
}

std::optional<JobFile> Parser::Parse(Source& source) {
  file_.path = path_;
  if (Result<const date::time_zone*> utc = LocateZone(defaults_.timezone)) defaults_.zone = *utc;
  if (!CheckEncoding(source)) return std::nullopt;
  if (!ReadDocument(source)) return std::nullopt;
  if (read_jobs_again_) {
    // `clusters` or `defaults` came after `jobs`. Reading the file a second time, for the
    // jobs only, keeps the usual order (jobs last) down to one pass and one job at a time;
    // the alternative, holding every job's tree until the end, is what this loader avoids.
    problems_[kJobs].clear();
    jobs_.Clear();
    job_lines_ = NameLines();
    top_keys_ = {};
    second_pass_ = true;
    if (!ReadDocument(source)) return std::nullopt;
  }
  if (HasProblems()) return std::nullopt;
  file_.jobs = jobs_.Take();
  return std::move(file_);
}

}  // namespace

std::string_view ToString(ConcurrencyPolicy policy) { return NameOf(kConcurrencyNames, policy); }
std::string_view ToString(CatchUpPolicy policy) { return NameOf(kCatchUpNames, policy); }
std::string_view ToString(SandboxMode mode) { return NameOf(kSandboxNames, mode); }

std::string Problem::ToString() const {
  if (line <= 0) return file + ": " + message;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

namespace {

tl::expected<JobFile, std::vector<Problem>> Parse(Source& source, size_t size,
                                                  std::string_view path) {
  Parser parser(path, size);
  std::optional<JobFile> file;
  try {
    file = parser.Parse(source);
  } catch (const std::exception& e) {
    // yaml-cpp documents few of its exceptions; none may escape the library.
    Problem p{std::string(path), 1, 1,
              std::string("internal error reading the job file: ") + e.what()};
    std::vector<Problem> problems = parser.TakeProblems();
    problems.push_back(std::move(p));
    return tl::unexpected(std::move(problems));
  }
  if (!file) return tl::unexpected(parser.TakeProblems());
  return std::move(*file);
}

std::string TooLarge() {
  return "job file is too large (more than " + std::to_string(kMaxFileBytes) + " bytes)";
}

}  // namespace

tl::expected<JobFile, std::vector<Problem>> ParseJobFile(std::string_view text,
                                                         std::string_view path) {
  if (text.size() > kMaxFileBytes) {
    return tl::unexpected(std::vector<Problem>{
        Problem{std::string(path), 1, 1,
                "job file is too large (" + std::to_string(text.size()) + " bytes, at most " +
                    std::to_string(kMaxFileBytes) + ")"}});
  }
  TextSource source(text);
  return Parse(source, text.size(), path);
}

tl::expected<JobFile, std::vector<Problem>> LoadJobFile(const std::string& path) {
  auto fail = [&path](std::string message) {
    return tl::unexpected(std::vector<Problem>{Problem{path, 0, 0, std::move(message)}});
  };
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return fail(std::string("cannot open: ") + std::strerror(errno));
  struct stat st {};
  if (fstat(fileno(f.get()), &st) == 0 && S_ISREG(st.st_mode)) {
    if (static_cast<uint64_t>(st.st_size) > kMaxFileBytes) return fail(TooLarge());
    FileSource source(fileno(f.get()));
    auto file = Parse(source, static_cast<size_t>(st.st_size), path);
    // Whatever was parsed of a file that could not be read whole is beside the point.
    if (source.error() != 0)
      return fail(std::string("cannot read: ") + std::strerror(source.error()));
    if (source.too_large()) return fail(TooLarge());
    return file;
  }
  // Not a regular file (a pipe, a directory): read it whole, once.
  std::string text;
  char buffer[65536];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, f.get())) > 0) {
    text.append(buffer, n);
    if (text.size() > kMaxFileBytes) return fail(TooLarge());
  }
  if (std::ferror(f.get())) return fail(std::string("cannot read: ") + std::strerror(errno));
  return ParseJobFile(text, path);
}

std::vector<std::string> RetryPolicy::RetryOn() const {
  std::vector<std::string> names;
  if (retry_failed) names.emplace_back("failed");
  if (retry_timed_out) names.emplace_back("timed_out");
  return names;
}

}  // namespace krond::config
