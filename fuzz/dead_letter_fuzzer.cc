// libFuzzer target for the dead-letter decoder (`krond dead list|replay` read a topic anyone
// with access can write): DecodeDeadLetter must return a letter or a non-empty error, never
// crash, hang or throw; a letter it accepts must fit the smallest message budget once cut by
// EncodeWithin, and decode back from it.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "fuzz_support.h"
#include "messages/run_messages.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace messages = krond::messages;
  const std::string_view text = krond::fuzz::AsText(data, size);
  auto letter = messages::DecodeDeadLetter(text);
  if (!krond::fuzz::Accepted(letter)) return 0;
  if (static_cast<int64_t>(letter->raw.bytes.size()) > letter->raw.original_bytes) std::abort();
  auto again = messages::DecodeDeadLetter(messages::Encode(*letter));
  if (!again || again->raw.bytes != letter->raw.bytes ||
      again->task.has_value() != letter->task.has_value()) {
    std::abort();
  }
  const std::string cut = messages::EncodeWithin(*letter, messages::kMinMessageBudget);
  if (cut.size() > messages::kMinMessageBudget || !messages::DecodeDeadLetter(cut)) std::abort();
  return 0;
}
