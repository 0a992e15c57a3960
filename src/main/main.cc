// krond: one binary, one subcommand per role. This file only wires the subcommands that
// the *_command.cc files register; each of those builds the real implementations.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <vector>

#include "main/command.h"

namespace krond::app {
namespace {
std::vector<Command>& Registry() {
  static std::vector<Command> commands;
  return commands;
}
}  // namespace

bool RegisterCommand(Command command) {
  Registry().push_back(std::move(command));
  return true;
}

}  // namespace krond::app

int main(int argc, char** argv) {
  CLI::App app{"krond: a distributed cron on Apache Kafka"};
  app.require_subcommand(1);
  app.set_version_flag("--version", KROND_VERSION);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error")
      ->capture_default_str();

  auto& registry = krond::app::Registry();
  std::sort(registry.begin(), registry.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  std::vector<std::function<int()>> runs(registry.size());
  std::vector<CLI::App*> subs;
  for (size_t i = 0; i < registry.size(); ++i) {
    CLI::App* sub = app.add_subcommand(registry[i].name, registry[i].description);
    runs[i] = registry[i].setup(*sub);
    subs.push_back(sub);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every usage error exits 2, whatever CLI11's own code.
    return app.exit(e) == 0 ? 0 : 2;
  }
  spdlog::set_level(spdlog::level::from_str(log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ [%n] %v");
  for (size_t i = 0; i < subs.size(); ++i) {
    if (subs[i]->parsed()) return runs[i]();
  }
  return 2;
}
