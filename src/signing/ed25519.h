#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

// Ed25519 signatures for tasks (docs/security.md, "Signed tasks"), on libsodium. Keys are
// stored as text: a private key file holds one line "ed25519-private <base64 seed>", a public
// keys file one base64 public key per line (blank lines and `#` comments allowed), so several
// keys can be trusted while one is being rotated out. Thread-safe: no shared state.
namespace krond::signing {

struct PublicKey {
  std::array<uint8_t, 32> bytes{};
  // The first 8 bytes in hex: names the key in messages and logs.
  std::string Id() const;
  bool operator==(const PublicKey&) const = default;
};

struct PrivateKey {
  std::array<uint8_t, 32> seed{};  // RFC 8032's private key
  PublicKey public_key;
};

using Signature = std::array<uint8_t, 64>;

// A new key pair from the system's random source.
[[nodiscard]] Result<PrivateKey> GenerateKey();
[[nodiscard]] Result<Signature> Sign(const PrivateKey& key, std::string_view message);
// Whether `signature` over `message` was made by `key`.
bool Verify(const PublicKey& key, std::string_view message, const Signature& signature);

// Text forms (see the namespace comment). Parse errors name `path`:LINE and never echo a
// private key.
std::string FormatPrivateKey(const PrivateKey& key);
std::string FormatPublicKey(const PublicKey& key);
[[nodiscard]] Result<PrivateKey> ParsePrivateKey(std::string_view text, std::string_view path);
[[nodiscard]] Result<std::vector<PublicKey>> ParsePublicKeys(std::string_view text,
                                                             std::string_view path);
// Reads and parses a file. A private key file that others can read, or its group write, is
// refused (group read is what a Kubernetes Secret mounted with fsGroup gets).
[[nodiscard]] Result<PrivateKey> LoadPrivateKey(const std::string& path);
[[nodiscard]] Result<std::vector<PublicKey>> LoadPublicKeys(const std::string& path);

// Standard base64 with padding.
std::string Base64Encode(std::string_view bytes);
[[nodiscard]] Result<std::string> Base64Decode(std::string_view text);

}  // namespace krond::signing
