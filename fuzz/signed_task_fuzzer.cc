// libFuzzer target for the signed-task envelope, which a worker opens before anything else of
// a task message (bytes anyone with access to a task or retry topic can write): OpenTask must
// open or refuse with a non-empty reason, never crash, hang or throw, with trusted keys or
// without; with a trusted key it may only open what verifies with that key, and never an
// attempt outside 1..max_attempts.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "fuzz_support.h"
#include "messages/signed_task.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace messages = krond::messages;
  // A fixed key (seed of zeros): the corpus may hold envelopes it signed.
  static const krond::signing::PrivateKey key = [] {
    auto parsed = krond::signing::ParsePrivateKey(
        "ed25519-private AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "fuzz");
    if (!parsed) std::abort();
    return *parsed;
  }();
  const std::string_view text = krond::fuzz::AsText(data, size);
  for (bool trusted : {false, true}) {
    auto opened =
        messages::OpenTask(text, trusted ? std::vector<krond::signing::PublicKey>{key.public_key}
                                         : std::vector<krond::signing::PublicKey>{});
    if (!opened) {
      if (opened.error().message.empty()) std::abort();
      continue;
    }
    const auto& t = opened->task;
    if (t.attempt < 1 || t.attempt > t.max_attempts) std::abort();
    if (trusted &&
        (!opened->envelope || !krond::signing::Verify(key.public_key, opened->envelope->task,
                                                      opened->envelope->signature))) {
      std::abort();
    }
  }
  return 0;
}
