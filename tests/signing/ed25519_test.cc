#include "signing/ed25519.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace krond::signing {
namespace {

using testing::HasSubstr;

PrivateKey NewKey() {
  auto key = GenerateKey();
  EXPECT_TRUE(key) << key.error().message;
  return *key;
}

TEST(Ed25519, SignatureVerifiesOnlyForItsMessageAndKey) {
  const PrivateKey key = NewKey(), other = NewKey();
  auto sig = Sign(key, "echo hello");
  ASSERT_TRUE(sig);
  EXPECT_TRUE(Verify(key.public_key, "echo hello", *sig));
  EXPECT_FALSE(Verify(key.public_key, "echo hellO", *sig));
  EXPECT_FALSE(Verify(other.public_key, "echo hello", *sig));
  Signature flipped = *sig;
  flipped[10] ^= 1;
  EXPECT_FALSE(Verify(key.public_key, "echo hello", flipped));
}

// RFC 8032, section 7.1, test 1: the empty message.
TEST(Ed25519, MatchesRfc8032) {
  auto key = ParsePrivateKey("ed25519-private nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=\n", "k");
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_EQ(FormatPublicKey(key->public_key), "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=");
  auto sig = Sign(*key, "");
  ASSERT_TRUE(sig);
  EXPECT_EQ(Base64Encode({reinterpret_cast<const char*>(sig->data()), sig->size()}),
            "5VZDAMNgrHKQhuLMgG6CioSHfx645dl02HPgZSJJAVVfuIIVkKM7rMYeOXAc+bRr0lv18FlbviRlUUFDjnoQ"
            "Cw==");
}

TEST(Ed25519, KeysRoundTripThroughTheirTextForms) {
  const PrivateKey key = NewKey();
  auto parsed = ParsePrivateKey(FormatPrivateKey(key), "key");
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->seed, key.seed);
  EXPECT_EQ(parsed->public_key, key.public_key);
  const PrivateKey next = NewKey();
  auto keys = ParsePublicKeys("# current\n" + FormatPublicKey(key.public_key) +
                                  "\n\n# next (rotation)\n  " + FormatPublicKey(next.public_key),
                              "pub");
  ASSERT_TRUE(keys) << keys.error().message;
  EXPECT_EQ(*keys, (std::vector<PublicKey>{key.public_key, next.public_key}));
  EXPECT_EQ(key.public_key.Id().size(), 16u);
}

TEST(Ed25519, BadKeyFilesNameTheLineAndNeverEchoTheSecret) {
  auto pub = ParsePublicKeys("# ok\nAAAA\n", "keys.pub");
  ASSERT_FALSE(pub);
  EXPECT_THAT(pub.error().message, HasSubstr("keys.pub:2:"));
  EXPECT_FALSE(ParsePublicKeys("# nothing\n", "keys.pub"));
  auto priv = ParsePrivateKey("ed25519-private c2VjcmV0LXNlY3JldA==\n", "key");
  ASSERT_FALSE(priv);
  EXPECT_THAT(priv.error().message, HasSubstr("key:1:"));
  EXPECT_THAT(priv.error().message, testing::Not(HasSubstr("c2VjcmV0")));
  EXPECT_FALSE(ParsePrivateKey("-----BEGIN PRIVATE KEY-----\n", "key"));
}

TEST(Ed25519, APrivateKeyFileOthersCanReadOrItsGroupWriteIsRefused) {
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("krond-key-test-" + std::to_string(::getpid()));
  const PrivateKey key = NewKey();
  {
    std::ofstream out(path);
    out << FormatPrivateKey(key);
  }
  for (const auto& [mode, loads] :
       std::vector<std::pair<mode_t, bool>>{{0600, true},
                                            {0400, true},
                                            {0440, true},
                                            {0640, true},  // a Secret with fsGroup
                                            {0644, false},
                                            {0604, false},
                                            {0660, false},
                                            {0620, false}}) {
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    auto loaded = LoadPrivateKey(path.string());
    EXPECT_EQ(static_cast<bool>(loaded), loads) << std::oct << mode;
    if (loaded) {
      EXPECT_EQ(loaded->public_key.Id(), key.public_key.Id());
    } else {
      EXPECT_THAT(loaded.error().message, HasSubstr("chmod 600"));
    }
  }
  std::filesystem::remove(path);
}

TEST(Ed25519, Base64RoundTrips) {
  for (const std::string& s :
       std::vector<std::string>{"", "a", "ab", "abc", "abcd", std::string("\0\xff", 2)}) {
    auto back = Base64Decode(Base64Encode(s));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, s);
  }
  EXPECT_FALSE(Base64Decode("abc"));
}

}  // namespace
}  // namespace krond::signing
