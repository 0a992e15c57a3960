// What a run costs in each sandbox on this machine: `true` run N times through
// ProcessExecutor (no sandbox), BubblewrapExecutor and MicroVmExecutor (TCG, and KVM when
// the probe finds it working), one run at a time. Prints the wall time per run (spawn to
// reaped, incl. the VM's boot and power-off) and, for VMs, the guest's boot time (kernel
// start to command start) as p50/p90/max, plus the KVM probe's verdict.
// scripts/bench microvm runs it; docs/benchmarks.md has the numbers.
//
//   microvm_cost [--runs N] [--image DIR]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/clock.h"
#include "exec/bubblewrap_executor.h"
#include "exec/microvm_executor.h"
#include "exec/process_executor.h"

namespace {

using krond::exec::Accelerator;
using krond::exec::CancelToken;
using krond::exec::Executor;
using krond::exec::OutcomeKind;
using krond::exec::RunOutcome;
using krond::exec::RunSpec;

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5)];
}

void Line(const char* what, const std::vector<double>& ms) {
  std::printf("%-28s n=%-3zu p50 %8.1f ms  p90 %8.1f ms  max %8.1f ms\n", what, ms.size(),
              Percentile(ms, 0.5), Percentile(ms, 0.9), Percentile(ms, 1.0));
}

// Runs `true` `runs` times; prints wall time, and the guest boot time for VMs.
bool Measure(const char* what, Executor& executor, int runs) {
  std::vector<double> wall;
  std::vector<double> boot;
  for (int i = 0; i < runs; ++i) {
    RunSpec spec;
    spec.argv = {"/bin/true"};
    spec.timeout = std::chrono::seconds(120);
    CancelToken never;
    const RunOutcome o = executor.Run(spec, never);
    if (o.kind != OutcomeKind::kSucceeded) {
      std::printf("%-28s run %d: %s %s\n", what, i, std::string(ToString(o.kind)).c_str(),
                  o.error.c_str());
      return false;
    }
    wall.push_back(std::chrono::duration<double, std::milli>(o.finished - o.started).count());
    if (o.vm && o.vm->boot) boot.push_back(static_cast<double>(o.vm->boot->count()));
  }
  Line(what, wall);
  if (!boot.empty()) Line((std::string(what) + " guest boot").c_str(), boot);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  int runs = 10;
  std::string image = "var/microvm";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--runs") {
      runs = std::atoi(argv[i + 1]);
    } else if (flag == "--image") {
      image = argv[i + 1];
    } else {
      std::fprintf(stderr, "usage: microvm_cost [--runs N] [--image DIR]\n");
      return 2;
    }
  }
  krond::RealClock clock;
  krond::exec::ProcessExecutor process(clock);
  Measure("none (posix_spawn)", process, runs);
  krond::exec::BubblewrapExecutor bwrap(process);
  if (krond::Status ok = bwrap.Probe(); ok) {
    Measure("bubblewrap", bwrap, runs);
  } else {
    std::printf("bubblewrap: unusable here: %s\n", ok.error().message.c_str());
  }

  krond::exec::MicroVmOptions options;
  options.image_dir = image;
  krond::exec::MicroVmExecutor probe(process, options);
  if (krond::Status ok = probe.CheckUsable(); !ok) {
    std::printf("microvm: %s\n", ok.error().message.c_str());
    return 1;
  }
  const auto t0 = std::chrono::steady_clock::now();
  const auto choice = probe.ChosenAccelerator();
  std::printf(
      "KVM probe: %s in %.0f ms (%s)\n", std::string(ToString(choice.accelerator)).c_str(),
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count(),
      choice.reason.c_str());
  for (Accelerator accelerator : {Accelerator::kTcg, Accelerator::kKvm}) {
    if (accelerator == Accelerator::kKvm && choice.accelerator != Accelerator::kKvm) continue;
    options.accelerator = accelerator;
    krond::exec::MicroVmExecutor vm(process, options);
    const std::string what = "microvm " + std::string(ToString(accelerator));
    if (!Measure(what.c_str(), vm, runs)) return 1;
  }
  return 0;
}
