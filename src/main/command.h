#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>

namespace krond::app {

// A `krond` subcommand. Each *_command.cc in src/main registers one with
// KROND_REGISTER_COMMAND; main() adds them all to the CLI. `setup` declares the
// subcommand's flags on `sub` and returns the function to run once they are parsed, which
// returns the process exit code.
struct Command {
  std::string name;
  std::string description;
  std::function<std::function<int()>(CLI::App& sub)> setup;
};

// Registration happens during static initialisation of the executable's own objects.
bool RegisterCommand(Command command);

#define KROND_REGISTER_COMMAND_CONCAT2(a, b) a##b
#define KROND_REGISTER_COMMAND_CONCAT(a, b) KROND_REGISTER_COMMAND_CONCAT2(a, b)
#define KROND_REGISTER_COMMAND(...)                                                          \
  [[maybe_unused]] static const bool KROND_REGISTER_COMMAND_CONCAT(kRegistered_, __LINE__) = \
      ::krond::app::RegisterCommand(__VA_ARGS__)

}  // namespace krond::app
