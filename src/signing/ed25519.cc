#include "signing/ed25519.h"

#include <sodium.h>
#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <sstream>

namespace krond::signing {
namespace {

constexpr std::string_view kPrivatePrefix = "ed25519-private ";
static_assert(crypto_sign_SEEDBYTES == 32 && crypto_sign_PUBLICKEYBYTES == 32 &&
              crypto_sign_BYTES == 64 && crypto_sign_SECRETKEYBYTES == 64);

// sodium_init is idempotent and thread-safe; every entry point calls it first.
bool Ready() { return sodium_init() >= 0; }

// The key of `seed`: libsodium's 64-byte secret key is the seed and the public key.
Result<PrivateKey> FromSeed(const std::array<uint8_t, 32>& seed) {
  if (!Ready()) return MakeError("libsodium cannot start");
  PrivateKey key;
  key.seed = seed;
  std::array<uint8_t, crypto_sign_SECRETKEYBYTES> secret{};
  if (crypto_sign_seed_keypair(key.public_key.bytes.data(), secret.data(), seed.data()) != 0) {
    return MakeError("libsodium cannot derive the Ed25519 public key");
  }
  sodium_memzero(secret.data(), secret.size());
  return key;
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
  if (!Ready()) return MakeError("libsodium cannot start");
  std::array<uint8_t, 32> seed{};
  randombytes_buf(seed.data(), seed.size());
  return FromSeed(seed);
}

Result<Signature> Sign(const PrivateKey& key, std::string_view message) {
  if (!Ready()) return MakeError("libsodium cannot start");
  // libsodium signs with the seed and the public key side by side, as RFC 8032 does; taking
  // the public key from `key` (rather than deriving it per call, a scalar multiplication)
  // makes a signature cost one.
  std::array<uint8_t, crypto_sign_SECRETKEYBYTES> secret{};
  std::copy(key.seed.begin(), key.seed.end(), secret.begin());
  std::copy(key.public_key.bytes.begin(), key.public_key.bytes.end(), secret.begin() + 32);
  Signature sig{};
  const int failed =
      crypto_sign_detached(sig.data(), nullptr, reinterpret_cast<const uint8_t*>(message.data()),
                           message.size(), secret.data());
  sodium_memzero(secret.data(), secret.size());
  if (failed != 0) return MakeError("libsodium cannot sign with Ed25519");
  return sig;
}

bool Verify(const PublicKey& key, std::string_view message, const Signature& signature) {
  return Ready() && crypto_sign_verify_detached(signature.data(),
                                                reinterpret_cast<const uint8_t*>(message.data()),
                                                message.size(), key.bytes.data()) == 0;
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
  return FromSeed(*seed);
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
  std::string out(sodium_base64_ENCODED_LEN(bytes.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const uint8_t*>(bytes.data()),
                    bytes.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

Result<std::string> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0) return MakeError("not base64 (length not a multiple of 4)");
  std::string out(3 * text.size() / 4, '\0');
  size_t len = 0;
  if (sodium_base642bin(reinterpret_cast<uint8_t*>(out.data()), out.size(), text.data(),
                        text.size(), nullptr, &len, nullptr, sodium_base64_VARIANT_ORIGINAL) != 0) {
    return MakeError("not base64");
  }
  out.resize(len);
  return out;
}

}  // namespace krond::signing
