#include "messages/signed_task.h"

#include <nlohmann/json.hpp>

namespace krond::messages {

namespace {
constexpr int kEnvelopeVersion = 1;
}  // namespace

Result<std::string> SignTask(std::string_view task, const signing::PrivateKey& key) {
  auto signature = signing::Sign(key, task);
  if (!signature) return tl::unexpected(signature.error());
  return EncodeSignedTask({std::string(task), key.public_key.Id(), *signature, {}, {}});
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
  return j.dump();
}

Result<SignedTask> VerifyTask(std::string_view message,
                              const std::vector<signing::PublicKey>& trusted) {
  const nlohmann::json j = nlohmann::json::parse(message, nullptr, false);
  if (!j.is_object() || !j.contains("sig") || !j.contains("task")) {
    return MakeError("unsigned task: the message is not a signed-task envelope");
  }
  SignedTask e;
  try {
    if (j.at("v").get<int>() != kEnvelopeVersion) {
      return MakeError("signed task: unknown envelope version " + j.at("v").dump());
    }
    auto task = signing::Base64Decode(j.at("task").get<std::string>());
    auto sig = signing::Base64Decode(j.at("sig").get<std::string>());
    if (!task || !sig || sig->size() != e.signature.size()) {
      return MakeError("signed task: task or signature is not valid base64 of the right size");
    }
    e.task = std::move(*task);
    std::copy(sig->begin(), sig->end(), e.signature.begin());
    e.key_id = j.value("key", "");
    if (j.contains("attempt")) e.attempt = j.at("attempt").get<int>();
    if (j.contains("not_before")) e.not_before = j.at("not_before").get<std::string>();
  } catch (const nlohmann::json::exception& ex) {
    return MakeError(std::string("signed task: malformed envelope: ") + ex.what());
  }
  bool known = false;
  for (const auto& key : trusted) {
    if (key.Id() != e.key_id) continue;
    known = true;
    if (signing::Verify(key, e.task, e.signature)) return e;
  }
  if (!known) {
    return MakeError("signed task: signed with key " + e.key_id +
                     ", which is not among the trusted public keys");
  }
  return MakeError("signed task: bad signature (the task was altered, or forged) for key " +
                   e.key_id);
}

}  // namespace krond::messages
