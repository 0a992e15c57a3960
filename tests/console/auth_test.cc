#include "console/auth.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace krond::console {
namespace {

TEST(AuthTest, Sha256MatchesSha256sum) {
  // printf 'secret' | sha256sum
  EXPECT_EQ(Sha256Hex("secret"),
            "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b");
}

TEST(AuthTest, AuthenticatesBearerTokensByDigest) {
  const std::string file = "# who role digest\n\nalice operator " + Sha256Hex("a-token") +
                           "\nvic viewer " + Sha256Hex("v-token") + "\n";
  auto table = TokenTable::Parse(file, "auth.txt");
  ASSERT_TRUE(table) << table.error().message;
  EXPECT_EQ(table->size(), 2u);
  auto alice = table->Authenticate("Bearer a-token");
  ASSERT_TRUE(alice);
  EXPECT_EQ(alice->name, "alice");
  EXPECT_TRUE(alice->CanOperate());
  auto vic = table->Authenticate("Bearer v-token");
  ASSERT_TRUE(vic);
  EXPECT_FALSE(vic->CanOperate());
  EXPECT_EQ(table->Authenticate("Bearer nope").error().message, "unknown token");
  EXPECT_FALSE(table->Authenticate(""));
  EXPECT_FALSE(table->Authenticate("Basic YTpi"));
  EXPECT_FALSE(table->Authenticate("Bearer a-token "));
}

TEST(AuthTest, ErrorsNameTheLine) {
  const std::string ok = Sha256Hex("x");
  EXPECT_EQ(TokenTable::Parse("a admin " + ok, "f").error().message,
            "f:1: role \"admin\": expected viewer or operator");
  EXPECT_EQ(TokenTable::Parse("\na viewer abc", "f").error().message,
            "f:2: the digest must be 64 hex digits (sha256sum of the token)");
  EXPECT_EQ(TokenTable::Parse("a viewer", "f").error().message,
            "f:1: expected NAME ROLE SHA256_OF_TOKEN");
  EXPECT_EQ(TokenTable::Parse("a viewer " + ok + "\nb operator " + ok, "f").error().message,
            "f:2: the same token as a");
  EXPECT_EQ(TokenTable::Parse("# nothing\n", "f").error().message, "f: no tokens");
  EXPECT_FALSE(TokenTable::Load("/nonexistent/auth"));
}

TEST(AuthTest, ADirectoryIsReadAsOneFile) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("krond-auth-" + std::to_string(::getpid()));
  fs::create_directories(dir / "..data");
  std::ofstream(dir / "alice") << "alice operator " << Sha256Hex("a");
  std::ofstream(dir / "bob") << "bob viewer " << Sha256Hex("b") << "\n";
  auto table = TokenTable::Load(dir.string());
  fs::remove_all(dir);
  ASSERT_TRUE(table) << table.error().message;
  EXPECT_EQ(table->size(), 2u);
  EXPECT_EQ(table->Authenticate("Bearer b")->name, "bob");
}

TEST(AuthTest, AnOversizedFileIsRefusedWithoutBeingReadWhole) {
  namespace fs = std::filesystem;
  const fs::path file =
      fs::temp_directory_path() / ("krond-auth-big-" + std::to_string(::getpid()));
  const std::string line = "alice operator " + Sha256Hex("a") + "\n";
  {
    std::ofstream out(file);
    out << line;
    // Comment lines, valid on their own: only the size is wrong.
    out << std::string(TokenTable::kMaxAuthFileBytes, '#');
  }
  auto table = TokenTable::Load(file.string());
  fs::remove(file);
  ASSERT_FALSE(table);
  EXPECT_NE(table.error().message.find("larger than 1024 KiB"), std::string::npos)
      << table.error().message;
}

}  // namespace
}  // namespace krond::console
