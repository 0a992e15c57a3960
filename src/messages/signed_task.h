#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "signing/ed25519.h"

// The signed-task envelope (docs/security.md, "Signed tasks"): a task message as the signer
// encoded it, byte for byte, with an Ed25519 signature over exactly those bytes, and the
// retry's own fields outside the signed part:
//
//   {"v":1,"task":"<base64 task JSON>","key":"<key id>","sig":"<base64>",
//    "attempt":2,"not_before":"2026-...Z"}
//
// Workers take the command, job and everything else from the signed bytes only, so a retry
// (written by a worker, which holds no private key) carries the original task unchanged and
// cannot alter what runs; it can only change when and which attempt. Pure functions.
namespace krond::messages {

struct SignedTask {
  std::string task;  // the signed bytes: the original task message
  std::string key_id;
  signing::Signature signature{};
  // Outside the signature: set by the worker that schedules a retry.
  std::optional<int> attempt;
  std::optional<std::string> not_before;
};

// Signs `task` (an encoded TaskMessage) into an envelope without retry fields.
[[nodiscard]] Result<std::string> SignTask(std::string_view task, const signing::PrivateKey& key);

// The envelope with its retry fields replaced; the signed part is copied unchanged.
std::string EncodeSignedTask(const SignedTask& envelope);

// The one check of a task's origin: `message` must be an envelope whose signature over its
// task bytes verifies with one of `trusted` (several during a key rotation). Errors say why
// (not an envelope, i.e. unsigned; a key that is not trusted; a bad signature), for the
// `invalid` result and the dead letter.
[[nodiscard]] Result<SignedTask> VerifyTask(std::string_view message,
                                            const std::vector<signing::PublicKey>& trusted);

}  // namespace krond::messages
