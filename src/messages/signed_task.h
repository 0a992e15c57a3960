#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "messages/run_messages.h"
#include "signing/ed25519.h"

// The signed-task envelope (docs/security.md, "Signed tasks"): a task message as the signer
// encoded it, byte for byte, with an Ed25519 signature over exactly those bytes, and the
// fields that others may set outside the signed part:
//
//   {"v":1,"task":"<base64 task JSON>","key":"<key id>","sig":"<base64>",
//    "attempt":2,"not_before":"2026-...Z","replayed_from":"krond.dead.c/0@12 at ...",
//    "requested_by":"alice"}
//
// Workers take the command, job and everything else from the signed bytes only, so a retry
// (written by a worker, which holds no private key) carries the original task unchanged and
// cannot alter what runs; it can only change when, and which attempt. Pure functions.
namespace krond::messages {

struct SignedTask {
  std::string task;  // the signed bytes: the original task message
  std::string key_id;
  signing::Signature signature{};
  // Outside the signature: set by the worker that schedules a retry ...
  std::optional<int> attempt;
  std::optional<std::string> not_before;  // RFC 3339
  // ... and by `krond dead replay`, which re-publishes the original signed task: where the
  // dead letter was and who replayed it. They label the run (trigger "replay"); they cannot
  // change what runs.
  std::optional<std::string> replayed_from;
  std::optional<std::string> requested_by;
};

// Signs `task` (an encoded TaskMessage) into an envelope without the outside fields.
[[nodiscard]] Result<std::string> SignTask(std::string_view task, const signing::PrivateKey& key);

// The envelope with its outside fields as given; the signed part is copied unchanged.
std::string EncodeSignedTask(const SignedTask& envelope);

// What every producer of new tasks writes (the scheduler, the console's run-now and
// backfill, a replay): the encoded task, signed when the producer was given a key.
class TaskSigner {
 public:
  explicit TaskSigner(std::optional<signing::PrivateKey> key = std::nullopt)
      : key_(std::move(key)) {}
  bool signs() const { return key_.has_value(); }

  // The task's message: signed with the key, or plain without one. Fails only when libsodium
  // cannot start (no system random source).
  [[nodiscard]] Result<std::string> Seal(const TaskMessage& task) const;
  // The message that replays `letter` as `replay` (messages::ReplayRun): a dead letter that
  // kept its signed envelope is re-published as it was signed, with the replay's attempt,
  // replayed_from and requested_by outside the signature (nobody replaying holds the
  // signer's key, and a verifying worker must see the signer's signature); otherwise
  // Seal(replay).
  [[nodiscard]] Result<std::string> Replay(const DeadLetter& letter,
                                           const TaskMessage& replay) const;

 private:
  std::optional<signing::PrivateKey> key_;
};

// Why a task message is refused before anything of it is used.
enum class TaskRefusalKind {
  kMalformed,     // neither a task nor an envelope, or an outside field out of range
  kUnsigned,      // a plain task where a signature is required
  kUntrustedKey,  // signed by a key that is not trusted
  kBadSignature,  // the signature does not match: altered or forged
};
// "malformed", "unsigned", "untrusted_key", "bad_signature" (metric labels).
std::string_view TaskRefusalName(TaskRefusalKind kind);
struct TaskRefusal {
  TaskRefusalKind kind = TaskRefusalKind::kMalformed;
  std::string message;  // for the `invalid` result and the dead letter
};

// Whether `message` is an envelope (a JSON object with "sig" and "task"), not whether it
// verifies.
bool IsSignedTask(std::string_view message);
// The envelope's fields, NOT verified: for re-publishing a signed task (a retry, a replay)
// and for readers that only look (the audit).
[[nodiscard]] Result<SignedTask> ParseSignedTask(std::string_view message);

// The one check of a task's origin: `message` must be an envelope whose signature over its
// task bytes verifies with one of `trusted` (several during a key rotation). The refusal
// says why: unsigned, a key that is not trusted, a bad signature.
[[nodiscard]] tl::expected<SignedTask, TaskRefusal> VerifyTask(
    std::string_view message, const std::vector<signing::PublicKey>& trusted);

// A task message as the worker uses it: decoded from the signed bytes when there is an
// envelope, with the envelope's outside fields applied (attempt, not_before; a replay
// becomes a run triggered by "replay", for requested_by, without a starting deadline).
struct OpenedTask {
  TaskMessage task;
  std::optional<SignedTask> envelope;  // absent: the message was a plain task
};
// With `trusted` non-empty, only a verified envelope is opened (VerifyTask); with none, a
// plain task or an envelope (unverified: the worker was told to trust what arrives). An
// outside attempt outside 1..max_attempts, or an unreadable not_before, is kMalformed.
[[nodiscard]] tl::expected<OpenedTask, TaskRefusal> OpenTask(
    std::string_view message, const std::vector<signing::PublicKey>& trusted);

}  // namespace krond::messages
