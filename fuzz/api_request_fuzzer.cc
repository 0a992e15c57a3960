// libFuzzer target for the console API's request parsing (src/console/requests.h, auth) and
// the decoders of the control-plane records the console reads from Kafka: arbitrary bytes
// must give a value or an error, never a crash, a hang or an escaped exception.
//
// The first byte picks the parser; the rest is its input. Route input is "METHOD PATH";
// query input is "name=value" lines.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>
#include <string_view>

#include "console/auth.h"
#include "console/requests.h"
#include "messages/catalog.h"

namespace {

krond::console::Query ParseLines(std::string_view text) {
  krond::console::Query query;
  std::istringstream in{std::string(text)};
  std::string line;
  while (std::getline(in, line)) {
    const auto eq = line.find('=');
    if (eq != std::string::npos) query.emplace(line.substr(0, eq), line.substr(eq + 1));
  }
  return query;
}

const krond::console::TokenTable& Tokens() {
  static const auto table = *krond::console::TokenTable::Parse(
      "alice operator " + krond::console::Sha256Hex("token") + "\n", "fuzz");
  return table;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  using namespace krond::console;
  switch (data[0] % 8) {
    case 0: {
      const auto space = input.find(' ');
      const std::string_view method = input.substr(0, space);
      const std::string_view path = space == std::string_view::npos ? "" : input.substr(space + 1);
      const Route route = ParseRoute(method, path);
      // A route that names a job or run carries it from the path.
      if (!route.job.empty() && path.find(route.job) == std::string_view::npos) std::abort();
      if (route.write && method != "POST") std::abort();
      break;
    }
    case 1: {
      auto query = ParseJobQuery(ParseLines(input));
      if (query && (query->limit < 1 || query->limit > 1000)) std::abort();
      break;
    }
    case 2: {
      auto backfill = ParseBackfill(input);
      if (backfill && backfill->to < backfill->from) std::abort();
      break;
    }
    case 3: {
      auto reason = ParseReason(input);
      if (reason && reason->size() > 500) std::abort();
      break;
    }
    case 4: {
      auto who = Tokens().Authenticate(input);
      if (who && input != "Bearer token") std::abort();
      break;
    }
    case 5:
      (void)krond::messages::DecodeCatalogEntry(input);
      break;
    case 6:
      (void)krond::messages::DecodeControlRecord(input);
      (void)krond::messages::DecodeReplayMarker(input);
      break;
    case 7:
      (void)ParseLimit(ParseLines(input), 50, 1000);
      (void)ParseFlag(ParseLines(input), "again");
      (void)TokenTable::Parse(input, "fuzz");
      break;
  }
  return 0;
}
