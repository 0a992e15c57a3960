// Cost of signed tasks (docs/benchmarks.md, "Signed tasks"): one Ed25519 signature, and a
// whole TaskSigner::Seal (encode, sign, envelope) of a typical task, against Seal without a
// key; and the worker's side, OpenTask with one trusted key.
// Run: build-release/bench/signing_bench (see docs/benchmarks.md).
#include <benchmark/benchmark.h>

#include <chrono>

#include "messages/signed_task.h"
#include "signing/ed25519.h"

namespace krond::messages {
namespace {

const signing::PrivateKey& Key() {
  static const signing::PrivateKey key = *signing::GenerateKey();
  return key;
}

TaskMessage Task() {
  TaskMessage task;
  task.run_id = "0b7d8c1e-5f7a-4e0c-9a57-3c1f1f0e2a44";
  task.job = "billing.nightly-invoices";
  task.cluster = "batch";
  task.command = "/opt/billing/bin/invoices --since yesterday --notify ops@example.com";
  task.scheduled_at = SystemTime(std::chrono::seconds(1'796'000'000));
  task.produced_at = task.scheduled_at;
  task.fence = 12345;
  task.max_attempts = 3;
  return task;
}

void BM_Sign(benchmark::State& state) {
  const std::string message = Encode(Task());
  for (auto _ : state) benchmark::DoNotOptimize(signing::Sign(Key(), message));
}
BENCHMARK(BM_Sign);

void BM_SealUnsigned(benchmark::State& state) {
  const TaskSigner signer;
  const TaskMessage task = Task();
  for (auto _ : state) benchmark::DoNotOptimize(signer.Seal(task));
}
BENCHMARK(BM_SealUnsigned);

void BM_SealSigned(benchmark::State& state) {
  const TaskSigner signer(Key());
  const TaskMessage task = Task();
  for (auto _ : state) benchmark::DoNotOptimize(signer.Seal(task));
}
BENCHMARK(BM_SealSigned);

void BM_OpenSigned(benchmark::State& state) {
  const std::string sealed = *TaskSigner(Key()).Seal(Task());
  const std::vector<signing::PublicKey> trusted{Key().public_key};
  for (auto _ : state) benchmark::DoNotOptimize(OpenTask(sealed, trusted));
}
BENCHMARK(BM_OpenSigned);

}  // namespace
}  // namespace krond::messages
