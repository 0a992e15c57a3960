#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

// Who a command runs as and what environment it sees (docs/security.md, "Commands run with
// least privilege").
namespace krond::exec {

// A user of this host, resolved from its name: what the child needs to become it. krond-guard
// applies it (setgroups, setgid, setuid) between its fork and the exec of the command.
struct Credentials {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  // Supplementary groups (getgrouplist: the primary group and every group listing the user),
  // what initgroups(3) would set; resolved here because the static krond-guard has no NSS.
  std::vector<gid_t> groups;
  std::string home;
};

// Looks `name` up in this host's user database (getpwnam_r, getgrouplist). Errors: the user
// does not exist ("unknown user"), or the lookup itself failed. Thread-safe.
[[nodiscard]] Result<Credentials> LookupUser(const std::string& name);

// "UID:GID:G1,G2,...": how ProcessExecutor hands credentials to krond-guard (`--as=`).
std::string EncodeCredentials(const Credentials& credentials);

// The variables of the worker's environment `worker_env` (NAME=value entries) that commands may
// see: PATH, HOME, USER, LOGNAME, SHELL, LANG, LANGUAGE, LC_*, TZ, TMPDIR, plus every name in
// `pass` (--pass-env). Everything else (credentials given to the worker as variables, its
// KROND_* settings, cloud tokens) stays in the worker. Order as in `environ`. Pure.
std::vector<std::string> FilterEnvironment(const std::vector<std::string>& worker_env,
                                           const std::vector<std::string>& pass);

// The process's own environment as entries, for FilterEnvironment.
std::vector<std::string> ProcessEnvironment();

// `env` with HOME, USER and LOGNAME set to `user`'s (replaced when present): a command that
// runs as another user must not write into the worker's home directory. Pure.
std::vector<std::string> WithUserVariables(std::vector<std::string> env, const Credentials& user);

}  // namespace krond::exec
