#include "messages/signed_task.h"

#include <climits>
#include <nlohmann/json.hpp>

#include "common/time_format.h"
#include "messages/json_fields.h"

namespace krond::messages {

namespace {
constexpr int kEnvelopeVersion = 1;

tl::unexpected<TaskRefusal> Refuse(TaskRefusalKind kind, std::string message) {
  return tl::unexpected(TaskRefusal{kind, std::move(message)});
}

bool IsEnvelope(const nlohmann::json& j) {
  return j.is_object() && j.contains("sig") && j.contains("task");
}
}  // namespace

Result<std::string> SignTask(std::string_view task, const signing::PrivateKey& key) {
  auto signature = signing::Sign(key, task);
  if (!signature) return tl::unexpected(signature.error());
  SignedTask envelope;
  envelope.task = std::string(task);
  envelope.key_id = key.public_key.Id();
  envelope.signature = *signature;
  return EncodeSignedTask(envelope);
}

std::string EncodeSignedTask(const SignedTask& e) {
  nlohmann::json j = {
      {"v", kEnvelopeVersion},
      {"task", signing::Base64Encode(e.task)},
      {"key", e.key_id},
      {"sig", signing::Base64Encode(
                  {reinterpret_cast<const char*>(e.signature.data()), e.signature.size()})},
  };
  if (e.attempt) j["attempt"] = *e.attempt;
  if (e.not_before) j["not_before"] = *e.not_before;
  if (e.replayed_from) j["replayed_from"] = *e.replayed_from;
  if (e.requested_by) j["requested_by"] = *e.requested_by;
  return j.dump();
}

Result<std::string> TaskSigner::Seal(const TaskMessage& task) const {
  std::string encoded = Encode(task);
  if (!key_) return encoded;
  return SignTask(encoded, *key_);
}

Result<std::string> TaskSigner::Replay(const DeadLetter& letter, const TaskMessage& replay) const {
  if (!letter.signed_task) return Seal(replay);
  auto envelope = ParseSignedTask(*letter.signed_task);
  if (!envelope) return tl::unexpected(envelope.error());
  envelope->attempt = 1;
  envelope->not_before.reset();
  envelope->replayed_from = replay.replayed_from;
  envelope->requested_by = replay.requested_by;
  return EncodeSignedTask(*envelope);
}

std::string_view TaskRefusalName(TaskRefusalKind kind) {
  switch (kind) {
    case TaskRefusalKind::kMalformed:
      return "malformed";
    case TaskRefusalKind::kUnsigned:
      return "unsigned";
    case TaskRefusalKind::kUntrustedKey:
      return "untrusted_key";
    case TaskRefusalKind::kBadSignature:
      return "bad_signature";
  }
  return "malformed";
}

bool IsSignedTask(std::string_view message) {
  return IsEnvelope(nlohmann::json::parse(message, nullptr, false));
}

Result<SignedTask> ParseSignedTask(std::string_view message) {
  const nlohmann::json j = nlohmann::json::parse(message, nullptr, false);
  if (!IsEnvelope(j)) return MakeError("unsigned task: the message is not a signed-task envelope");
  SignedTask e;
  // Checked as integers first: nlohmann's get<int>() of 1e300 or 2^40 is undefined.
  internal::FieldReader ints(j);
  const int64_t version = ints.Int("v");
  const auto attempt = ints.IntIn("attempt", INT_MIN, INT_MAX, /*required=*/false);
  if (!ints.ok()) return MakeError("signed task: malformed envelope: " + ints.error());
  if (version != kEnvelopeVersion) {
    return MakeError("signed task: unknown envelope version " + j.at("v").dump());
  }
  if (ints.Has("attempt")) e.attempt = static_cast<int>(attempt);
  try {
    auto task = signing::Base64Decode(j.at("task").get<std::string>());
    auto sig = signing::Base64Decode(j.at("sig").get<std::string>());
    if (!task || !sig || sig->size() != e.signature.size()) {
      return MakeError("signed task: task or signature is not valid base64 of the right size");
    }
    e.task = std::move(*task);
    std::copy(sig->begin(), sig->end(), e.signature.begin());
    e.key_id = j.value("key", "");
    if (j.contains("not_before")) e.not_before = j.at("not_before").get<std::string>();
    if (j.contains("replayed_from")) e.replayed_from = j.at("replayed_from").get<std::string>();
    if (j.contains("requested_by")) e.requested_by = j.at("requested_by").get<std::string>();
  } catch (const nlohmann::json::exception& ex) {
    return MakeError(std::string("signed task: malformed envelope: ") + ex.what());
  }
  return e;
}

tl::expected<SignedTask, TaskRefusal> VerifyTask(std::string_view message,
                                                 const std::vector<signing::PublicKey>& trusted) {
  if (!IsSignedTask(message)) {
    return Refuse(TaskRefusalKind::kUnsigned,
                  "unsigned task: the message is not a signed-task envelope");
  }
  auto e = ParseSignedTask(message);
  if (!e) return Refuse(TaskRefusalKind::kMalformed, e.error().message);
  bool known = false;
  for (const auto& key : trusted) {
    if (key.Id() != e->key_id) continue;
    known = true;
    if (signing::Verify(key, e->task, e->signature)) return std::move(*e);
  }
  if (!known) {
    return Refuse(TaskRefusalKind::kUntrustedKey,
                  "signed task: signed with key " + e->key_id +
                      ", which is not among the trusted public keys");
  }
  return Refuse(
      TaskRefusalKind::kBadSignature,
      "signed task: bad signature (the task was altered, or forged) for key " + e->key_id);
}

tl::expected<OpenedTask, TaskRefusal> OpenTask(std::string_view message,
                                               const std::vector<signing::PublicKey>& trusted) {
  OpenedTask opened;
  if (!trusted.empty()) {
    auto verified = VerifyTask(message, trusted);
    if (!verified) return tl::unexpected(verified.error());
    opened.envelope = std::move(*verified);
  } else if (IsSignedTask(message)) {
    auto parsed = ParseSignedTask(message);
    if (!parsed) return Refuse(TaskRefusalKind::kMalformed, parsed.error().message);
    opened.envelope = std::move(*parsed);
  }
  auto task = DecodeTask(opened.envelope ? std::string_view(opened.envelope->task) : message);
  if (!task) return Refuse(TaskRefusalKind::kMalformed, task.error().message);
  opened.task = std::move(*task);
  if (!opened.envelope) return opened;
  const SignedTask& e = *opened.envelope;
  TaskMessage& t = opened.task;
  if (e.attempt) {
    if (*e.attempt < 1 || *e.attempt > t.max_attempts) {
      return Refuse(TaskRefusalKind::kMalformed, "signed task: attempt " +
                                                     std::to_string(*e.attempt) + " outside 1.." +
                                                     std::to_string(t.max_attempts));
    }
    t.attempt = *e.attempt;
  }
  if (e.not_before) {
    auto at = ParseRfc3339(*e.not_before);
    if (!at) {
      return Refuse(TaskRefusalKind::kMalformed, "signed task: not_before: " + at.error().message);
    }
    t.not_before = *at;
  }
  if (e.replayed_from) {
    // The same as messages::ReplayRun makes of an unsigned task: an operator asked for this
    // run now, so its original instant's deadline is moot.
    t.replayed_from = e.replayed_from;
    t.trigger = Trigger::kReplay;
    t.requested_by = e.requested_by.value_or("");
    t.starting_deadline.reset();
  }
  return opened;
}

}  // namespace krond::messages
