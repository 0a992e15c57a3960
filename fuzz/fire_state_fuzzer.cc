// libFuzzer target for the scheduler's own records (read on every takeover and by
// `krond audit`): the state, lease and skip decoders must return a record or a non-empty
// error, never crash, hang or throw; a record one accepts must encode and decode back to
// itself.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "messages/scheduler_records.h"

namespace {

namespace messages = krond::messages;

// Compared through their encodings: Encode writes every field of each record, so two
// records that encode alike are alike.
template <typename Decode>
void RoundTrip(std::string_view text, Decode decode) {
  auto record = decode(text);
  if (!krond::fuzz::Accepted(record)) return;
  const std::string encoded = messages::Encode(*record);
  auto again = decode(encoded);
  if (!again || messages::Encode(*again) != encoded) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = krond::fuzz::AsText(data, size);
  RoundTrip(text, messages::DecodeFireState);
  RoundTrip(text, messages::DecodeLeaseRecord);
  RoundTrip(text, messages::DecodeSkipRecord);
  return 0;
}
