// libFuzzer target for the task decoder, which reads bytes anyone with access to a task or
// retry topic can write: DecodeTask must return a task or a non-empty error, never crash,
// hang or throw; a task it accepts must hold the decoder's limits, encode and decode back
// to the same task, and give a retry delay within [0, max_backoff].
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string_view>

#include "common/env_name.h"
#include "fuzz_support.h"
#include "messages/run_messages.h"
#include "worker/backoff.h"

namespace {

using krond::messages::TaskMessage;

bool SameVm(const std::optional<TaskMessage::MicroVm>& a,
            const std::optional<TaskMessage::MicroVm>& b) {
  if (!a || !b) return !a && !b;
  return a->memory_mib == b->memory_mib && a->vcpus == b->vcpus;
}

bool SameTask(const TaskMessage& a, const TaskMessage& b) {
  return SameVm(a.microvm, b.microvm) && a.run_id == b.run_id && a.job == b.job &&
         a.cluster == b.cluster && a.command == b.command && a.scheduled_at == b.scheduled_at &&
         a.attempt == b.attempt && a.max_attempts == b.max_attempts && a.timeout == b.timeout &&
         a.not_before == b.not_before && a.starting_deadline == b.starting_deadline &&
         a.retry.backoff == b.retry.backoff && a.retry.max_backoff == b.retry.max_backoff &&
         a.retry.multiplier == b.retry.multiplier && a.retry.jitter == b.retry.jitter &&
         a.retry.retry_on == b.retry.retry_on && a.concurrency == b.concurrency &&
         a.sandbox == b.sandbox && a.network == b.network && a.replayed_from == b.replayed_from &&
         a.user == b.user && a.env == b.env;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace messages = krond::messages;
  const std::string_view text = krond::fuzz::AsText(data, size);
  auto task = messages::DecodeTask(text);
  if (!krond::fuzz::Accepted(task)) {
    if (task.error().message.size() > messages::kMaxErrorBytes + 64) std::abort();
    return 0;
  }
  if (task->attempt < 1 || task->attempt > task->max_attempts ||
      task->max_attempts > messages::kMaxAttempts) {
    std::abort();
  }
  if (task->timeout.count() <= 0 || task->command.size() > messages::kMaxCommandBytes) std::abort();
  if (task->retry.max_backoff < task->retry.backoff || task->retry.backoff.count() < 0)
    std::abort();
  if (task->microvm && (task->microvm->memory_mib > messages::kMaxVmMemoryMib ||
                        task->microvm->vcpus > messages::kMaxVmVcpus)) {
    std::abort();
  }
  for (const auto& [name, value] : task->env) {
    if (!krond::IsValidEnvName(name) || krond::IsReservedEnvName(name)) std::abort();
  }
  auto again = messages::DecodeTask(messages::Encode(*task));
  if (!again || !SameTask(*task, *again)) std::abort();
  for (double u : {0.0, 0.5, 0.999}) {
    const auto delay = krond::worker::RetryDelay(task->retry, task->max_attempts, u);
    if (delay.count() < 0 || delay > task->retry.max_backoff) std::abort();
  }
  return 0;
}
