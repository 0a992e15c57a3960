// libFuzzer target for the HA scheduler's state records (the compacted state topic, read on
// every takeover): DecodeFireState must return a state or a non-empty error, never crash,
// hang or throw; a state it accepts must encode and decode back to itself.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "fuzz_support.h"
#include "scheduler/fire_state.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace scheduler = krond::scheduler;
  const std::string_view text = krond::fuzz::AsText(data, size);
  auto state = scheduler::DecodeFireState(text);
  if (!krond::fuzz::Accepted(state)) return 0;
  auto again = scheduler::DecodeFireState(scheduler::EncodeFireState(*state));
  if (!again || again->job != state->job || again->last_fired != state->last_fired) std::abort();
  return 0;
}
