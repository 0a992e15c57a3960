#include "console/auth.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace krond::console {
namespace {

std::array<unsigned char, 32> Sha256(std::string_view text) {
  std::array<unsigned char, 32> out{};
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), out.data(), &size, EVP_sha256(), nullptr);
  return out;
}

std::optional<std::array<unsigned char, 32>> ParseDigest(std::string_view hex) {
  if (hex.size() != 64) return std::nullopt;
  std::array<unsigned char, 32> out{};
  for (size_t i = 0; i < 64; ++i) {
    const char c = hex[i];
    int v = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : -1;
    if (v < 0) return std::nullopt;
    out[i / 2] = static_cast<unsigned char>(out[i / 2] | (i % 2 == 0 ? v << 4 : v));
  }
  return out;
}

}  // namespace

std::string_view RoleName(Role role) { return role == Role::kOperator ? "operator" : "viewer"; }

std::string Sha256Hex(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : Sha256(text)) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

Result<TokenTable> TokenTable::Parse(std::string_view text, std::string_view path) {
  TokenTable table;
  std::istringstream in{std::string(text)};
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    auto where = std::string(path) + ":" + std::to_string(number) + ": ";
    std::istringstream fields(line);
    std::string name, role, digest, extra;
    fields >> name;
    if (name.empty() || name[0] == '#') continue;
    fields >> role >> digest >> extra;
    if (digest.empty() || !extra.empty()) {
      return MakeError(where + "expected NAME ROLE SHA256_OF_TOKEN");
    }
    Entry e;
    e.who.name = name;
    if (role == "viewer") {
      e.who.role = Role::kViewer;
    } else if (role == "operator") {
      e.who.role = Role::kOperator;
    } else {
      return MakeError(where + "role \"" + role + "\": expected viewer or operator");
    }
    auto parsed = ParseDigest(digest);
    if (!parsed)
      return MakeError(where + "the digest must be 64 hex digits (sha256sum of the token)");
    e.digest = *parsed;
    for (const Entry& other : table.entries_) {
      if (other.digest == e.digest) return MakeError(where + "the same token as " + other.who.name);
    }
    table.entries_.push_back(std::move(e));
  }
  if (table.entries_.empty()) return MakeError(std::string(path) + ": no tokens");
  return table;
}

namespace {

// Appends the file at `path` to `text`, refusing to read past kMaxAuthFileBytes in all.
Status AppendCapped(const std::string& path, std::string& text) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError("cannot read auth file " + path);
  char buf[8192];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<size_t>(in.gcount()));
    if (text.size() > TokenTable::kMaxAuthFileBytes) {
      return MakeError("auth file " + path + ": larger than " +
                       std::to_string(TokenTable::kMaxAuthFileBytes / 1024) + " KiB");
    }
  }
  return {};
}

}  // namespace

Result<TokenTable> TokenTable::Load(const std::string& path) {
  std::error_code error;
  std::string text;
  if (std::filesystem::is_directory(path, error)) {
    // A mounted Kubernetes Secret: one file per key, each holding lines of the file format.
    std::vector<std::string> files;
    for (const auto& entry : std::filesystem::directory_iterator(path, error)) {
      const std::string name = entry.path().filename().string();
      if (!name.empty() && name[0] != '.' && !entry.is_directory()) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    for (const std::string& file : files) {
      if (Status ok = AppendCapped(file, text); !ok) return tl::unexpected(ok.error());
      text += "\n";
    }
    return Parse(text, path);
  }
  if (Status ok = AppendCapped(path, text); !ok) return tl::unexpected(ok.error());
  return Parse(text, path);
}

Result<Principal> TokenTable::Authenticate(std::string_view authorization) const {
  constexpr std::string_view kBearer = "Bearer ";
  if (authorization.empty()) return MakeError("missing Authorization: Bearer TOKEN");
  if (authorization.substr(0, kBearer.size()) != kBearer) {
    return MakeError("the Authorization header must be \"Bearer TOKEN\"");
  }
  const auto digest = Sha256(authorization.substr(kBearer.size()));
  const Entry* match = nullptr;
  for (const Entry& e : entries_) {
    // Every entry is compared, whatever matched before.
    const bool same = CRYPTO_memcmp(e.digest.data(), digest.data(), digest.size()) == 0;
    if (same) match = &e;
  }
  if (match == nullptr) return MakeError("unknown token");
  return match->who;
}

}  // namespace krond::console
