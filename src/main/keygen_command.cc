// `krond keygen`: makes the Ed25519 key pair that signs tasks (docs/security.md).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "main/command.h"
#include "signing/ed25519.h"

namespace krond::app {
namespace {

struct KeygenFlags {
  std::string private_path;
  std::string public_path;
};

// Creates `path` with `mode`; an existing file is never overwritten (it may be a key in use).
Status WriteNew(const std::string& path, const std::string& text, mode_t mode) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return MakeError(path + ": " + std::strerror(errno));
  const bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const bool closed = close(fd) == 0;
  if (!ok || !closed) return MakeError(path + ": write failed");
  return {};
}

int RunKeygen(const KeygenFlags& flags) {
  auto key = signing::GenerateKey();
  if (!key) {
    std::cerr << "krond keygen: " << key.error().message << "\n";
    return 1;
  }
  if (auto ok = WriteNew(flags.private_path, signing::FormatPrivateKey(*key), 0600); !ok) {
    std::cerr << "krond keygen: " << ok.error().message << "\n";
    return 1;
  }
  const std::string pub = "# krond task-signing key " + key->public_key.Id() + "\n" +
                          signing::FormatPublicKey(key->public_key) + "\n";
  if (auto ok = WriteNew(flags.public_path, pub, 0644); !ok) {
    std::cerr << "krond keygen: " << ok.error().message << "\n";
    unlink(flags.private_path.c_str());
    return 1;
  }
  std::cout << "key " << key->public_key.Id() << ": private " << flags.private_path << ", public "
            << flags.public_path << "\n";
  return 0;
}

KROND_REGISTER_COMMAND(Command{
    "keygen", "Make an Ed25519 key pair for signing tasks",
    [](CLI::App& sub) -> std::function<int()> {
      auto flags = std::make_shared<KeygenFlags>();
      sub.add_option("--private", flags->private_path,
                     "Private key file to create (mode 600; for signers' --task-signing-key)")
          ->required();
      sub.add_option("--public", flags->public_path,
                     "Public key file to create (lines for workers' --task-public-keys)")
          ->required();
      return [flags] { return RunKeygen(*flags); };
    }});

}  // namespace
}  // namespace krond::app
