#include "exec/run_as.h"

#include <grp.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

extern char** environ;

namespace krond::exec {
namespace {

constexpr std::string_view kAllowed[] = {"PATH", "HOME",     "USER", "LOGNAME", "SHELL",
                                         "LANG", "LANGUAGE", "TZ",   "TMPDIR"};

std::string_view NameOf(std::string_view entry) { return entry.substr(0, entry.find('=')); }

bool Allowed(std::string_view name, const std::vector<std::string>& pass) {
  if (name.substr(0, 3) == "LC_") return true;
  if (std::find(std::begin(kAllowed), std::end(kAllowed), name) != std::end(kAllowed)) return true;
  return std::find(pass.begin(), pass.end(), name) != pass.end();
}

}  // namespace

Result<Credentials> LookupUser(const std::string& name) {
  long size = sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buffer(size > 0 ? static_cast<size_t>(size) : 16384);
  passwd entry{};
  passwd* found = nullptr;
  int err;
  while ((err = getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found)) == ERANGE) {
    buffer.resize(buffer.size() * 2);
  }
  if (err != 0) {
    return MakeError("cannot look up user \"" + name +
                     "\": " + std::generic_category().message(err));
  }
  if (found == nullptr) return MakeError("unknown user \"" + name + "\" on this worker");
  Credentials credentials;
  credentials.name = name;
  credentials.uid = entry.pw_uid;
  credentials.gid = entry.pw_gid;
  credentials.home = entry.pw_dir != nullptr ? entry.pw_dir : "/";
  int count = 32;
  credentials.groups.resize(static_cast<size_t>(count));
  while (getgrouplist(name.c_str(), entry.pw_gid, credentials.groups.data(), &count) < 0) {
    // count now holds the number needed.
    credentials.groups.resize(static_cast<size_t>(count) + 1);
    count = static_cast<int>(credentials.groups.size());
  }
  credentials.groups.resize(static_cast<size_t>(count));
  return credentials;
}

std::string EncodeCredentials(const Credentials& credentials) {
  std::string out = std::to_string(credentials.uid) + ":" + std::to_string(credentials.gid) + ":";
  for (size_t i = 0; i < credentials.groups.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(credentials.groups[i]);
  }
  return out;
}

std::vector<std::string> FilterEnvironment(const std::vector<std::string>& worker_env,
                                           const std::vector<std::string>& pass) {
  std::vector<std::string> out;
  for (const std::string& entry : worker_env) {
    if (entry.find('=') != std::string::npos && Allowed(NameOf(entry), pass)) out.push_back(entry);
  }
  return out;
}

std::vector<std::string> ProcessEnvironment() {
  std::vector<std::string> out;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    out.emplace_back(*entry);
  }
  return out;
}

std::vector<std::string> WithUserVariables(std::vector<std::string> env, const Credentials& user) {
  const std::pair<std::string_view, const std::string&> vars[] = {
      {"HOME", user.home}, {"USER", user.name}, {"LOGNAME", user.name}};
  std::erase_if(env, [&vars](const std::string& entry) {
    return std::any_of(std::begin(vars), std::end(vars),
                       [&entry](const auto& var) { return NameOf(entry) == var.first; });
  });
  for (const auto& [name, value] : vars) env.push_back(std::string(name) + "=" + value);
  return env;
}

}  // namespace krond::exec
