#include "messages/signed_task.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/time_format.h"

namespace krond::messages {
namespace {

using testing::HasSubstr;

const std::string kTask =
    R"({"v":1,"run_id":"j-1","job":"j","cluster":"c","command":"echo hi","attempt":1})";

signing::PrivateKey NewKey() { return *signing::GenerateKey(); }

// Run "r" of job "j" on cluster "c", running `true`.
TaskMessage TrueTask(int max_attempts) {
  TaskMessage t;
  t.run_id = "r";
  t.job = "j";
  t.cluster = "c";
  t.command = "true";
  t.max_attempts = max_attempts;
  return t;
}

TEST(SignedTask, VerifiesAndGivesBackTheOriginalBytes) {
  const auto key = NewKey();
  auto envelope = SignTask(kTask, key);
  ASSERT_TRUE(envelope);
  auto verified = VerifyTask(*envelope, {key.public_key});
  ASSERT_TRUE(verified) << verified.error().message;
  EXPECT_EQ(verified->task, kTask);
  EXPECT_EQ(verified->key_id, key.public_key.Id());
  EXPECT_FALSE(verified->attempt);
}

TEST(SignedTask, UnsignedTaskIsRefused) {
  auto verified = VerifyTask(kTask, {NewKey().public_key});
  ASSERT_FALSE(verified);
  EXPECT_THAT(verified.error().message, HasSubstr("unsigned task"));
  EXPECT_FALSE(VerifyTask("not json", {NewKey().public_key}));
}

// Found by signed_task_fuzzer: a version or attempt that is not an int was read with
// get<int>(), which is undefined for 1e300.
TEST(SignedTask, NonIntegerVersionOrAttemptIsMalformed) {
  const auto key = NewKey();
  auto refusal = [&](const char* field, const nlohmann::json& value) {
    auto j = nlohmann::json::parse(*SignTask(kTask, key));
    j[field] = value;
    auto verified = VerifyTask(j.dump(), {key.public_key});
    return verified ? std::string("opened") : verified.error().message;
  };
  EXPECT_THAT(refusal("v", 6.6e69), HasSubstr("malformed envelope"));
  EXPECT_THAT(refusal("attempt", 6.6e69), HasSubstr("malformed envelope"));
  EXPECT_THAT(refusal("attempt", 1099511627776), HasSubstr("out of range"));
  EXPECT_THAT(refusal("v", 1099511627776), HasSubstr("unknown envelope version"));
}

TEST(SignedTask, TamperedCommandIsRefused) {
  const auto key = NewKey();
  auto j = nlohmann::json::parse(*SignTask(kTask, key));
  std::string tampered = kTask;
  tampered.replace(tampered.find("echo hi"), 7, "rm -rf /");
  j["task"] = signing::Base64Encode(tampered);
  auto verified = VerifyTask(j.dump(), {key.public_key});
  ASSERT_FALSE(verified);
  EXPECT_THAT(verified.error().message, HasSubstr("bad signature"));
}

// A job's env: is part of the task, so the signature covers it: a retry or replay carries it
// unchanged, and nobody without the key can add LD_PRELOAD to a signed run.
TEST(SignedTask, EnvIsInsideTheSignature) {
  const auto key = NewKey();
  TaskMessage t = TrueTask(2);
  t.env = {{"REGION", "eu"}};
  const std::string task = Encode(t);
  SignedTask retry = *ParseSignedTask(*SignTask(task, key));
  retry.attempt = 2;
  auto opened = OpenTask(EncodeSignedTask(retry), {key.public_key});
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_EQ(opened->task.env, t.env);
  std::string tampered = task;
  tampered.replace(tampered.find("{\"REGION\""), 1, "{\"LD_PRELOAD\":\"/tmp/x.so\",");
  retry.task = tampered;
  EXPECT_EQ(OpenTask(EncodeSignedTask(retry), {key.public_key}).error().kind,
            TaskRefusalKind::kBadSignature);
}

TEST(SignedTask, ForgedWithAnotherKeyIsRefused) {
  const auto key = NewKey(), attacker = NewKey();
  auto verified = VerifyTask(*SignTask(kTask, attacker), {key.public_key});
  ASSERT_FALSE(verified);
  EXPECT_THAT(verified.error().message, HasSubstr("not among the trusted public keys"));
  // Claiming the trusted key's id does not help.
  auto j = nlohmann::json::parse(*SignTask(kTask, attacker));
  j["key"] = key.public_key.Id();
  auto claimed = VerifyTask(j.dump(), {key.public_key});
  ASSERT_FALSE(claimed);
  EXPECT_THAT(claimed.error().message, HasSubstr("bad signature"));
}

TEST(SignedTask, RotationTrustsOldAndNewKeysThenOnlyTheNew) {
  const auto old_key = NewKey(), new_key = NewKey();
  const std::string by_old = *SignTask(kTask, old_key), by_new = *SignTask(kTask, new_key);
  // 1. workers trust both; 2. signers switch to the new key; 3. workers drop the old one.
  const std::vector<signing::PublicKey> both = {old_key.public_key, new_key.public_key};
  EXPECT_TRUE(VerifyTask(by_old, both));
  EXPECT_TRUE(VerifyTask(by_new, both));
  EXPECT_TRUE(VerifyTask(by_new, {new_key.public_key}));
  EXPECT_FALSE(VerifyTask(by_old, {new_key.public_key}));
}

TEST(SignedTask, RetryFieldsAreOutsideTheSignature) {
  const auto key = NewKey();
  auto first = VerifyTask(*SignTask(kTask, key), {key.public_key});
  ASSERT_TRUE(first);
  SignedTask retry = *first;
  retry.attempt = 3;
  retry.not_before = "2026-01-01T00:00:05.000Z";
  auto verified = VerifyTask(EncodeSignedTask(retry), {key.public_key});
  ASSERT_TRUE(verified) << verified.error().message;
  EXPECT_EQ(verified->task, kTask);
  EXPECT_EQ(verified->attempt, 3);
  EXPECT_EQ(verified->not_before, "2026-01-01T00:00:05.000Z");
}

TEST(SignedTask, ForgedRetryWithAnotherCommandIsRefused) {
  // A worker (no private key) rewrites a retry's task: the signature no longer matches.
  const auto key = NewKey();
  SignedTask retry = *VerifyTask(*SignTask(kTask, key), {key.public_key});
  retry.attempt = 2;
  retry.task.replace(retry.task.find("\"job\":\"j\""), 9, "\"job\":\"k\"");
  auto verified = VerifyTask(EncodeSignedTask(retry), {key.public_key});
  ASSERT_FALSE(verified);
  EXPECT_THAT(verified.error().message, HasSubstr("bad signature"));
}

TEST(SignedTask, OpenTaskAppliesTheOutsideFieldsAndNamesTheRefusal) {
  const auto key = NewKey();
  const std::string task = Encode([] {
    TaskMessage t = TrueTask(3);
    t.starting_deadline = std::chrono::seconds(5);
    return t;
  }());
  SignedTask retry = *ParseSignedTask(*SignTask(task, key));
  retry.attempt = 2;
  retry.not_before = "2026-01-01T00:00:05.000Z";
  auto opened = OpenTask(EncodeSignedTask(retry), {key.public_key});
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_EQ(opened->task.attempt, 2);
  EXPECT_EQ(opened->task.not_before, *ParseRfc3339("2026-01-01T00:00:05.000Z"));
  EXPECT_TRUE(opened->task.starting_deadline);
  retry.replayed_from = "c.dead.c[0]@1";
  EXPECT_FALSE(OpenTask(EncodeSignedTask(retry), {key.public_key})->task.starting_deadline);
  // No trusted keys: plain tasks and envelopes alike, unverified.
  EXPECT_TRUE(OpenTask(task, {}));
  EXPECT_TRUE(OpenTask(EncodeSignedTask(retry), {}));
  EXPECT_EQ(OpenTask(task, {key.public_key}).error().kind, TaskRefusalKind::kUnsigned);
  EXPECT_EQ(OpenTask(*SignTask(task, NewKey()), {key.public_key}).error().kind,
            TaskRefusalKind::kUntrustedKey);
  retry.attempt = 0;
  EXPECT_EQ(OpenTask(EncodeSignedTask(retry), {key.public_key}).error().kind,
            TaskRefusalKind::kMalformed);
  EXPECT_EQ(OpenTask("{", {}).error().kind, TaskRefusalKind::kMalformed);
}

}  // namespace
}  // namespace krond::messages

namespace krond::messages {
namespace {

TEST(TaskSigner, SealsPlainWithoutAKeyAndSignedWithOne) {
  TaskMessage t = NewRun(
      [] {
        TaskMessage job;
        job.job = "j";
        job.cluster = "c";
        job.command = "true";
        return job;
      }(),
      SystemTime{}, SystemTime{});
  EXPECT_EQ(*TaskSigner().Seal(t), Encode(t));
  const auto key = *signing::GenerateKey();
  auto opened = OpenTask(*TaskSigner(key).Seal(t), {key.public_key});
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_EQ(opened->task.run_id, t.run_id);
}

TEST(TaskSigner, AReplayOfASignedDeadLetterKeepsItsSignatureAndIsLabelledAReplay) {
  const auto key = *signing::GenerateKey();
  TaskMessage original;
  original.run_id = "r";
  original.job = "j";
  original.cluster = "c";
  original.command = "true";
  original.max_attempts = 3;
  original.starting_deadline = std::chrono::seconds(5);
  SignedTask last = *ParseSignedTask(*SignTask(Encode(original), key));
  last.attempt = 3;  // the attempt that exhausted the retries
  last.not_before = "2026-01-01T00:00:05.000Z";
  DeadLetter letter;
  letter.task = original;
  letter.signed_task = EncodeSignedTask(last);
  auto replay = ReplayRun(letter, "c.dead.c[0]@7", SystemTime{}, "alice");
  ASSERT_TRUE(replay);
  // The replaying party holds another key (or none): the signer's signature goes out as it was.
  const auto other = *signing::GenerateKey();
  for (const TaskSigner& signer : {TaskSigner(), TaskSigner(other)}) {
    auto value = signer.Replay(letter, *replay);
    ASSERT_TRUE(value) << value.error().message;
    auto opened = OpenTask(*value, {key.public_key});
    ASSERT_TRUE(opened) << opened.error().message;
    EXPECT_EQ(opened->task.attempt, 1);
    EXPECT_FALSE(opened->task.not_before);
    EXPECT_EQ(opened->task.trigger, Trigger::kReplay);
    EXPECT_EQ(opened->task.requested_by, "alice");
    EXPECT_EQ(opened->task.replayed_from, replay->replayed_from);
    EXPECT_FALSE(opened->task.starting_deadline);
  }
  // An unsigned dead letter is replayed as a new message, signed by the replaying party.
  letter.signed_task.reset();
  auto value = TaskSigner(other).Replay(letter, *replay);
  ASSERT_TRUE(value);
  EXPECT_TRUE(OpenTask(*value, {other.public_key}));
  EXPECT_EQ(OpenTask(*value, {key.public_key}).error().kind, TaskRefusalKind::kUntrustedKey);
}

}  // namespace
}  // namespace krond::messages
