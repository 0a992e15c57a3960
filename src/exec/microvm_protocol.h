#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace krond::exec {

// What the microVM's agent (scripts/microvm/init) said on the serial console, parsed from the
// bytes QEMU wrote to its stdout: kernel messages, records and the command's output.
//
// A record is an APC escape sequence, ESC '_' "krond " kind (' ' key '=' value)* ESC '\':
//   start boot_ms=N                      the command is about to start
//   exit status=N boot_ms=N run_ms=N     it ended with status N (128 + signal if killed)
//   boot_error msg=TEXT                  the VM cannot run the command (TEXT to the end)
// The command's output is every byte after the first start record up to the last exit
// record, minus any records in between. Bytes before the start record are the boot console.
//
// Every byte is guest-controlled: the parser accepts any input (no crash, no unbounded
// work: one pass, O(n)), ignores records it does not understand, and never trusts a
// number it cannot parse. A command can print fake records; that only misreports its own
// run, since the agent's real exit record comes after everything the command wrote.
struct ConsoleReport {
  // A start or an exit record was seen: the command ran (the start record may have been
  // dropped from the front of a long output).
  bool started = false;
  // From the exit record; absent if the VM stopped or was killed before the command ended.
  std::optional<int> status;
  // Guest uptime when the command started, and how long it ran (exit record, else start).
  std::optional<std::int64_t> boot_ms;
  std::optional<std::int64_t> run_ms;
  // The agent's boot_error message, if it sent one.
  std::optional<std::string> boot_error;
  // The command's output (raw bytes); when no start record was seen, everything up to the
  // exit record.
  std::string output;
  // Bytes of `console` before the start record (kernel messages, QEMU's own errors); all
  // of it when the command never started.
  std::string boot_console;
};

ConsoleReport ParseConsole(std::string_view console);

}  // namespace krond::exec
