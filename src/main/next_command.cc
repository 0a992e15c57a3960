// `krond next`: prints the next fire times of a cron expression, to check a schedule
// (and its DST behaviour) before putting it in a job file.
#include <cstdio>
#include <memory>
#include <string>

#include "common/clock.h"
#include "common/time_format.h"
#include "cron/schedule.h"
#include "main/command.h"

namespace krond::app {
namespace {

constexpr int kBadInput = 2;

struct NextFlags {
  std::string expr;
  std::string zone = "UTC";
  std::string from;  // Default: now.
  int count = 5;
};

int Fail(const std::string& message) {
  std::fprintf(stderr, "krond next: %s\n", message.c_str());
  return kBadInput;
}

int RunNext(const NextFlags& flags) {
  auto zone = LocateZone(flags.zone);
  if (!zone) return Fail(zone.error().message);
  SystemTime from;
  if (flags.from.empty()) {
    from = RealClock().Now();
  } else {
    auto parsed = ParseRfc3339(flags.from);
    if (!parsed) return Fail("--from: " + parsed.error().message);
    from = *parsed;
  }
  auto schedule = cron::Schedule::Parse(flags.expr, *zone);
  if (!schedule) return Fail("\"" + flags.expr + "\": " + schedule.error().message);
  // `@every` counts from --from, as the scheduler counts from its start.
  const cron::Schedule anchored = schedule->AnchoredAt(from);
  SystemTime t = from;
  for (int i = 0; i < flags.count; ++i) {
    const auto next = anchored.Next(t);
    if (!next) {
      std::fprintf(stderr, "krond next: no further fire time within the search horizon\n");
      break;
    }
    t = *next;
    std::printf("%s\n", FormatRfc3339InZone(t, anchored.zone()).c_str());
  }
  return 0;
}

KROND_REGISTER_COMMAND(Command{
    "next",
    "Print the next fire times of a cron expression",
    [](CLI::App& sub) -> std::function<int()> {
      auto flags = std::make_shared<NextFlags>();
      sub.add_option("expr", flags->expr, "Cron expression, e.g. '0 2 * * *' or '@every 1h'")
          ->required();
      sub.add_option("--tz", flags->zone,
                     "IANA time zone of the schedule (a CRON_TZ= prefix overrides it)")
          ->capture_default_str();
      sub.add_option("--from", flags->from, "RFC 3339 start time (default: now)");
      sub.add_option("-n", flags->count, "How many fire times to print")
          ->check(CLI::Range(1, 10'000))
          ->capture_default_str();
      return [flags] { return RunNext(*flags); };
    },
});

}  // namespace
}  // namespace krond::app
