// Fuzzes the microVM console parser (exec::ParseConsole) and the outcome built from it
// (MicroVmExecutor::Interpret): every byte of a VM's console is controlled by the guest, i.e.
// by the job's command. Checks that parsing never crashes, that output and boot console are
// made of input bytes only (never longer than the input), that the outcome's tail respects
// the run's limit, and that a run reported as started or succeeded is consistent.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "exec/microvm_executor.h"
#include "exec/microvm_protocol.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace krond::exec;
  const std::string_view console(reinterpret_cast<const char*>(data), size);
  const ConsoleReport report = ParseConsole(console);
  if (report.output.size() + report.boot_console.size() > console.size()) std::abort();
  if (report.status && !report.started) std::abort();
  if (report.status && *report.status < 0) std::abort();
  if (report.boot_ms && *report.boot_ms < 0) std::abort();

  RunSpec spec;
  spec.argv = {"true"};
  spec.output_tail_bytes = size % 64;
  RunOutcome vm;
  vm.kind = size % 3 == 0 ? OutcomeKind::kTimedOut : OutcomeKind::kSucceeded;
  vm.output_tail = std::string(console);
  vm.output_bytes_total = console.size() + size % 7;
  const RunOutcome out = MicroVmExecutor::Interpret(spec, vm, Accelerator::kTcg);
  if (out.output_tail.size() > spec.output_tail_bytes) std::abort();
  if (out.output_bytes_dropped > out.output_bytes_total) std::abort();
  if (out.kind == OutcomeKind::kSucceeded && (!report.status || *report.status != 0)) std::abort();
  if (out.kind == OutcomeKind::kBootFailed && report.started) std::abort();
  for (char c : out.error) {
    if (static_cast<unsigned char>(c) < 0x20 && c != '\n') std::abort();
  }
  return 0;
}
