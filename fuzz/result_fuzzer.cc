// libFuzzer target for the result decoder (the results topic is read by tools and
// dashboards): DecodeResult must return a result or a non-empty error, never crash, hang or
// throw; a result it accepts must encode, decode back, and fit the smallest message budget
// once cut by EncodeWithin.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "fuzz_support.h"
#include "messages/run_messages.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace messages = krond::messages;
  const std::string_view text = krond::fuzz::AsText(data, size);
  auto result = messages::DecodeResult(text);
  if (!krond::fuzz::Accepted(result)) return 0;
  if (result->attempt < 1 || result->output_bytes < 0) std::abort();
  if (result->exit_code && (*result->exit_code < 0 || *result->exit_code > 255)) std::abort();
  auto again = messages::DecodeResult(messages::Encode(*result));
  if (!again || again->run_id != result->run_id || again->outcome != result->outcome ||
      again->output_tail != result->output_tail || again->finished_at != result->finished_at) {
    std::abort();
  }
  const std::string cut = messages::EncodeWithin(*result, messages::kMinMessageBudget);
  if (cut.size() > messages::kMinMessageBudget || !messages::DecodeResult(cut)) std::abort();
  return 0;
}
