#include "kafka/client_settings.h"

#include <algorithm>
#include <array>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace krond::kafka {
namespace {

std::string_view Trim(std::string_view s) {
  const auto not_space = [](char c) { return c != ' ' && c != '\t' && c != '\r'; };
  while (!s.empty() && !not_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && !not_space(s.back())) s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// A guarded property: the values krond accepts (empty: none, krond sets it per client) and
// why the others are refused.
struct Guard {
  std::string_view key;
  std::array<std::string_view, 2> accepted;
  std::string_view why;
};

// librdkafka's aliases are listed too: `acks` and `request.required.acks` are one property.
constexpr std::string_view kAcksWhy =
    "krond's producers need acks=all: a fire or result acknowledged by fewer replicas is lost "
    "when that broker dies";
constexpr std::string_view kIdempotenceWhy =
    "krond's producers are idempotent: without it a retried produce can write a run twice";
constexpr std::string_view kAutoCommitWhy =
    "workers commit an offset only after the run's result is in Kafka: an automatic commit "
    "would lose the run when the worker dies mid-run";
constexpr std::string_view kTimeoutWhy =
    "krond never gives up on a message (0 = no timeout): a finite timeout drops runs while a "
    "broker is down";
constexpr std::string_view kOwnedWhy = "krond sets it for each client itself";
constexpr Guard kGuards[] = {
    {"acks", {"all", "-1"}, kAcksWhy},
    {"request.required.acks", {"all", "-1"}, kAcksWhy},
    {"enable.idempotence", {"true", ""}, kIdempotenceWhy},
    {"enable.auto.commit", {"false", ""}, kAutoCommitWhy},
    {"auto.commit.enable", {"false", ""}, kAutoCommitWhy},
    {"enable.auto.offset.store", {"false", ""}, kAutoCommitWhy},
    {"isolation.level",
     {"read_committed", ""},
     "workers and the scheduler read committed messages only: read_uncommitted would run "
     "tasks of aborted transactions"},
    {"message.timeout.ms", {"0", ""}, kTimeoutWhy},
    {"delivery.timeout.ms", {"0", ""}, kTimeoutWhy},
    {"group.id", {"", ""}, kOwnedWhy},
    {"group.instance.id", {"", ""}, kOwnedWhy},
    {"transactional.id", {"", ""}, kOwnedWhy},
    {"partitioner", {"", ""}, "krond routes every run of a job to one partition by its name"},
    {"enable.partition.eof", {"", ""}, kOwnedWhy},
};

constexpr std::string_view kSecretKeys[] = {
    "sasl.password",    "sasl.oauthbearer.client.secret", "sasl.oauthbearer.config",
    "ssl.key.password", "ssl.keystore.password",          "ssl.key.pem",
    "ssl_key",
};

}  // namespace

Result<std::vector<UserSetting>> ParseClientProperties(std::string_view text,
                                                       std::string_view path) {
  std::vector<UserSetting> out;
  int line_no = 0;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++line_no;
    const std::string origin = std::string(path) + ":" + std::to_string(line_no);
    // Trailing blanks are kept, as in Java's properties files: a password may end in one.
    if (line.ends_with('\r')) line.remove_suffix(1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (Trim(line).empty() || line.front() == '#' || line.front() == '!') continue;
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      return MakeError(origin + ": expected key=value (the value is not shown)");
    }
    const std::string_view key = Trim(line.substr(0, eq));
    if (key.empty()) return MakeError(origin + ": a property without a name");
    // Only leading blanks of the value go: a password may end in a space.
    std::string_view value = line.substr(eq + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
      value.remove_prefix(1);
    }
    out.push_back({std::string(key), std::string(value), origin});
  }
  return out;
}

bool IsReference(std::string_view value) {
  return value.size() > 3 && value.back() == '}' &&
         (value.starts_with("${env:") || value.starts_with("${file:"));
}

Result<std::string> ResolveReference(const UserSetting& setting) {
  const std::string_view value = setting.value;
  if (!IsReference(value)) return setting.value;
  const std::string where = setting.origin + ": " + setting.key;
  if (value.starts_with("${env:")) {
    const std::string name(value.substr(6, value.size() - 7));
    const char* found = std::getenv(name.c_str());
    if (name.empty() || found == nullptr) {
      return MakeError(where + ": environment variable \"" + name + "\" is not set");
    }
    return std::string(found);
  }
  const std::string file(value.substr(7, value.size() - 8));
  std::ifstream in(file, std::ios::binary);
  if (file.empty() || !in) return MakeError(where + ": cannot read file \"" + file + "\"");
  std::ostringstream content;
  content << in.rdbuf();
  std::string out = content.str();
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

bool IsSecretProperty(std::string_view key) {
  return std::find(std::begin(kSecretKeys), std::end(kSecretKeys), key) != std::end(kSecretKeys);
}

Status CheckGuarantees(const UserSetting& setting) {
  for (const Guard& guard : kGuards) {
    if (setting.key != guard.key) continue;
    const std::string value = Lower(Trim(setting.value));
    for (std::string_view accepted : guard.accepted) {
      if (!accepted.empty() && value == accepted) return {};
    }
    return MakeError(setting.origin + ": " + setting.key + " cannot be set here: " +
                     std::string(guard.why) + " (docs/security.md, \"Client settings\")");
  }
  return {};
}

}  // namespace krond::kafka
