// libFuzzer target for the scheduler's own records (read on every takeover and by
// `krond audit`): the state, lease and skip decoders must return a record or a non-empty
// error, never crash, hang or throw; a record one accepts must encode and decode back to
// itself.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "fuzz_support.h"
#include "messages/scheduler_records.h"

namespace {

namespace messages = krond::messages;

void FuzzState(std::string_view text) {
  auto state = messages::DecodeFireState(text);
  if (!krond::fuzz::Accepted(state)) return;
  auto again = messages::DecodeFireState(messages::Encode(*state));
  if (!again || again->job != state->job || again->last_fired != state->last_fired ||
      again->fence != state->fence) {
    std::abort();
  }
}

void FuzzLease(std::string_view text) {
  auto lease = messages::DecodeLeaseRecord(text);
  if (!krond::fuzz::Accepted(lease)) return;
  auto again = messages::DecodeLeaseRecord(messages::Encode(*lease));
  if (!again || again->owner != lease->owner || again->resigned != lease->resigned ||
      again->at != lease->at) {
    std::abort();
  }
}

void FuzzSkip(std::string_view text) {
  auto skip = messages::DecodeSkipRecord(text);
  if (!krond::fuzz::Accepted(skip)) return;
  auto again = messages::DecodeSkipRecord(messages::Encode(*skip));
  if (!again || again->job != skip->job || again->reason != skip->reason ||
      again->first != skip->first || again->last != skip->last || again->count != skip->count ||
      again->decided_at != skip->decided_at || again->detail != skip->detail) {
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = krond::fuzz::AsText(data, size);
  FuzzState(text);
  FuzzLease(text);
  FuzzSkip(text);
  return 0;
}
