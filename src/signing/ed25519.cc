#include "signing/ed25519.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>

namespace krond::signing {
namespace {

using PkeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)>;
constexpr std::string_view kPrivatePrefix = "ed25519-private ";

Result<PublicKey> PublicOf(const std::array<uint8_t, 32>& seed) {
  PkeyPtr pkey(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size()),
               EVP_PKEY_free);
  if (!pkey) return MakeError("OpenSSL cannot make an Ed25519 key");
  PublicKey pub;
  size_t len = pub.bytes.size();
  if (EVP_PKEY_get_raw_public_key(pkey.get(), pub.bytes.data(), &len) != 1 || len != 32) {
    return MakeError("OpenSSL cannot derive the Ed25519 public key");
  }
  return pub;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

template <size_t N>
Result<std::array<uint8_t, N>> DecodeExactly(std::string_view text) {
  auto bytes = Base64Decode(text);
  if (!bytes) return tl::unexpected(bytes.error());
  if (bytes->size() != N) {
    return MakeError("expected " + std::to_string(N) + " bytes, got " +
                     std::to_string(bytes->size()));
  }
  std::array<uint8_t, N> out{};
  std::copy(bytes->begin(), bytes->end(), out.begin());
  return out;
}

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError(path + ": cannot read it");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace

std::string PublicKey::Id() const {
  std::string id;
  char hex[3];
  for (size_t i = 0; i < 8; ++i) {
    std::snprintf(hex, sizeof hex, "%02x", bytes[i]);
    id += hex;
  }
  return id;
}

Result<PrivateKey> GenerateKey() {
  PrivateKey key;
  if (RAND_bytes(key.seed.data(), static_cast<int>(key.seed.size())) != 1) {
    return MakeError("no random bytes from OpenSSL");
  }
  auto pub = PublicOf(key.seed);
  if (!pub) return tl::unexpected(pub.error());
  key.public_key = *pub;
  return key;
}

Result<Signature> Sign(const PrivateKey& key, std::string_view message) {
  PkeyPtr pkey(
      EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, key.seed.data(), key.seed.size()),
      EVP_PKEY_free);
  MdCtxPtr ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  Signature sig{};
  size_t len = sig.size();
  if (!pkey || !ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) != 1 ||
      EVP_DigestSign(ctx.get(), sig.data(), &len,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1 ||
      len != sig.size()) {
    return MakeError("OpenSSL cannot sign with Ed25519");
  }
  return sig;
}

bool Verify(const PublicKey& key, std::string_view message, const Signature& signature) {
  PkeyPtr pkey(
      EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, key.bytes.data(), key.bytes.size()),
      EVP_PKEY_free);
  MdCtxPtr ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  return pkey && ctx &&
         EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) == 1 &&
         EVP_DigestVerify(ctx.get(), signature.data(), signature.size(),
                          reinterpret_cast<const unsigned char*>(message.data()),
                          message.size()) == 1;
}

std::string FormatPrivateKey(const PrivateKey& key) {
  return std::string(kPrivatePrefix) +
         Base64Encode({reinterpret_cast<const char*>(key.seed.data()), key.seed.size()}) + "\n";
}

std::string FormatPublicKey(const PublicKey& key) {
  return Base64Encode({reinterpret_cast<const char*>(key.bytes.data()), key.bytes.size()});
}

Result<PrivateKey> ParsePrivateKey(std::string_view text, std::string_view path) {
  const std::string where(path);
  std::string_view line = Trim(text.substr(0, text.find('\n')));
  if (line.rfind(kPrivatePrefix, 0) != 0) {
    return MakeError(where +
                     ":1: not a krond private key (expected \"ed25519-private ...\", "
                     "as `krond keygen` writes)");
  }
  auto seed = DecodeExactly<32>(Trim(line.substr(kPrivatePrefix.size())));
  if (!seed) return MakeError(where + ":1: bad private key: " + seed.error().message);
  PrivateKey key;
  key.seed = *seed;
  auto pub = PublicOf(key.seed);
  if (!pub) return tl::unexpected(pub.error());
  key.public_key = *pub;
  return key;
}

Result<std::vector<PublicKey>> ParsePublicKeys(std::string_view text, std::string_view path) {
  std::vector<PublicKey> keys;
  size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    const size_t end = text.find('\n');
    std::string_view line = Trim(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    if (line.empty() || line.front() == '#') continue;
    auto bytes = DecodeExactly<32>(line);
    if (!bytes) {
      return MakeError(std::string(path) + ":" + std::to_string(line_no) +
                       ": not an Ed25519 public key: " + bytes.error().message);
    }
    keys.push_back(PublicKey{*bytes});
  }
  if (keys.empty()) return MakeError(std::string(path) + ": no public key in it");
  return keys;
}

Result<PrivateKey> LoadPrivateKey(const std::string& path) {
  struct stat st {};
  // Group read is allowed: Kubernetes mounts a Secret into a non-root pod as 0440 with the
  // pod's fsGroup (defaultMode 0400 is widened), a group of that pod alone.
  if (stat(path.c_str(), &st) == 0 && (st.st_mode & 027) != 0) {
    return MakeError(path +
                     ": a private key must be readable by its owner (and at most its group) "
                     "only: chmod 600");
  }
  auto text = ReadFile(path);
  if (!text) return tl::unexpected(text.error());
  return ParsePrivateKey(*text, path);
}

Result<std::vector<PublicKey>> LoadPublicKeys(const std::string& path) {
  auto text = ReadFile(path);
  if (!text) return tl::unexpected(text.error());
  return ParsePublicKeys(*text, path);
}

std::string Base64Encode(std::string_view bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(bytes.data()),
                                static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

Result<std::string> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return MakeError("not base64 (length not a multiple of 4)");
  std::string out(3 * text.size() / 4 + 1, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return MakeError("not base64");
  // EVP_DecodeBlock counts the padding as zero bytes.
  size_t len = static_cast<size_t>(n);
  for (size_t i = text.size(); i > 0 && text[i - 1] == '=' && len > 0; --i) --len;
  out.resize(len);
  return out;
}

}  // namespace krond::signing
