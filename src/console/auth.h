#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

// Who may use the console's API (docs/api.md, "Auth").
namespace krond::console {

enum class Role { kViewer, kOperator };
std::string_view RoleName(Role role);  // "viewer" | "operator"

// The holder of a token: its name goes into the `by` of control records and the
// `requested_by` of runs.
struct Principal {
  std::string name;
  Role role = Role::kViewer;
  bool CanOperate() const { return role == Role::kOperator; }
};

// The tokens of an auth file: one per line, `NAME ROLE SHA256_OF_TOKEN` (64 hex digits);
// blank lines and lines starting with # are ignored. Only digests are kept, so the file and
// the process never hold a token. Immutable once loaded: thread-safe.
class TokenTable {
 public:
  // Errors name the file and line: "auth.txt:3: role \"admin\": expected viewer or operator".
  [[nodiscard]] static Result<TokenTable> Parse(std::string_view text, std::string_view path);
  // `path` may also be a directory (a mounted Kubernetes Secret): its files, in name order,
  // are read as one file (hidden entries such as ..data are skipped).
  [[nodiscard]] static Result<TokenTable> Load(const std::string& path);
  // Larger auth files (or Secrets, all files together) are refused: a line is about 100
  // bytes, so this is some ten thousand tokens.
  static constexpr size_t kMaxAuthFileBytes = 1024 * 1024;

  // The principal of an `Authorization` header value ("Bearer TOKEN"). Compares the token's
  // digest with every entry in constant time (no early exit), so the time taken says
  // nothing about how close a guess was. Errors are the 401 message.
  [[nodiscard]] Result<Principal> Authenticate(std::string_view authorization) const;
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    Principal who;
    std::array<unsigned char, 32> digest;
  };
  std::vector<Entry> entries_;
};

// SHA-256 of `text` as 64 lower-case hex digits (what an auth file holds; `krond console
// token` prints one for a new token).
std::string Sha256Hex(std::string_view text);

}  // namespace krond::console
