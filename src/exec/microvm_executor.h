#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "exec/executor.h"

namespace krond::exec {

struct MicroVmOptions {
  // QEMU with the `microvm` machine (Debian qemu-system-x86). Default:
  // /usr/bin/qemu-system-x86_64.
  std::string qemu_path = "/usr/bin/qemu-system-x86_64";
  // Directory holding vmlinuz and initrd.img, as built by scripts/microvm-image.
  // Requires: non-empty.
  std::string image_dir;
  // For runs with network access (RunSpec::sandbox.allow_network): util-linux unshare(1)
  // and slirp4netns (Debian slirp4netns), see MicroVmExecutor. Defaults: /usr/bin/...
  std::string unshare_path = "/usr/bin/unshare";
  std::string slirp4netns_path = "/usr/bin/slirp4netns";
  // Where each run's scratch directory (its initrd) is made. Default: $TMPDIR or /tmp.
  std::string runtime_dir;
  // Force an accelerator; unset: probe KVM once (StartAcceleratorProbe) and use TCG if it
  // does not work. Default: unset.
  std::optional<Accelerator> accelerator;
  // How long the KVM probe's guest may take to boot and run /bin/true. A working KVM boots
  // it in well under a second; on hosts whose nested virtualization is broken the guest
  // hangs, hence the deadline. Default: 5 s.
  std::chrono::milliseconds kvm_probe_deadline{5000};
  // VM size when RunSpec::sandbox leaves it at 0. Defaults: 256 MiB, 1 vCPU.
  std::uint32_t default_memory_mib = 256;
  std::uint32_t default_vcpus = 1;
  // Called once when the accelerator is chosen (from the probing thread), e.g. to log it
  // and export it. Default: none.
  std::function<void(Accelerator accelerator, const std::string& reason)> on_accelerator_chosen;
  // Bytes of console kept beyond RunSpec::output_tail_bytes, so that records and a
  // kernel panic or QEMU error fit in the tail too. Default: 16 KiB.
  std::size_t console_slack_bytes = 16 * 1024;
};

// Runs each command in a fresh QEMU `microvm` virtual machine: its own kernel (Debian's
// linux-image-cloud-amd64), a read-only initramfs root (busybox and the agent
// scripts/microvm/init, built by scripts/microvm-image), RAM-backed /tmp as the workspace,
// no devices but a serial console, and no network unless the run allows it. docs/execution.md
// has the threat model and the comparison with bubblewrap and Firecracker.
//
// A run: the RunSpec becomes /krond/run.sh in a cpio archive appended to the image's
// initramfs (in a scratch directory under runtime_dir, removed afterwards); QEMU is run by
// the inner executor (normally a ProcessExecutor: the one spawning path, which applies the
// run's timeout, cancel and kill escalation to QEMU: killing QEMU kills the VM); the agent
// reports start, exit status and timings as records on the serial console, which QEMU
// writes to its stdout, with the command's output in between (ParseConsole).
//
// Outcomes: the command's exit status gives kSucceeded/kFailed as elsewhere; kTimedOut and
// kCancelled when the VM was killed after the command started; kBootFailed when the command
// never started: QEMU failed, the kernel panicked, the agent reported a boot_error, or the
// timeout expired while the VM was still booting. A VM that stops by itself mid-command (a
// guest kernel crash) is kFailed with exit code -1. A missing QEMU binary is kSpawnFailed.
//
// Network (allow_network): QEMU's user-mode NIC (slirp; guest 10.0.2.15, gateway 10.0.2.2)
// maps the gateway to the host's 127.0.0.1, which would let the guest reach every service
// on the host's loopback. So QEMU runs in a network namespace of its own (unshare --net,
// which needs root or user namespaces) whose loopback is empty, and that namespace reaches
// the outside through slirp4netns --disable-host-loopback. Without allow_network the VM
// has no NIC at all.
//
// Limits: memory (RunSpec::sandbox.vm_memory_mib) and vCPUs bound the guest; RunSpec::limits
// (rlimits) are not applied to QEMU. The worker's environment never enters the VM.
//
// Thread-safe if `inner` is. `inner` must outlive this executor.
class MicroVmExecutor final : public Executor {
 public:
  MicroVmExecutor(Executor& inner, MicroVmOptions options);
  ~MicroVmExecutor() override;

  RunOutcome Run(const RunSpec& spec, CancelToken& cancel) override;

  // QEMU, the image files and (for network runs) unshare and slirp4netns are there. Cheap;
  // does not boot anything.
  [[nodiscard]] Status CheckUsable() const;

  struct AcceleratorChoice {
    Accelerator accelerator = Accelerator::kTcg;
    // Why, for the log: e.g. "/dev/kvm: No such file or directory", "a KVM guest did not
    // boot within 5000ms".
    std::string reason;
  };
  // Starts choosing the accelerator on a background thread (once; later calls do
  // nothing): KVM if /dev/kvm opens and a KVM guest boots and runs /bin/true within
  // kvm_probe_deadline, TCG otherwise. Run() waits for the choice.
  void StartAcceleratorProbe();
  // The choice; starts the probe if needed and blocks until it is made.
  AcceleratorChoice ChosenAccelerator();

  // The argv the inner executor runs for `spec` (QEMU, wrapped for network runs), booting
  // `initrd`. Exposed for tests and logging.
  std::vector<std::string> VmArgv(const RunSpec& spec, Accelerator accelerator,
                                  const std::string& initrd, const std::string& run_dir) const;

  // Turns what the inner executor reported about QEMU into the run's outcome. Pure;
  // exposed for tests.
  static RunOutcome Interpret(const RunSpec& spec, RunOutcome vm, Accelerator accelerator);

 private:
  RunOutcome RunWith(const RunSpec& spec, CancelToken& cancel, Accelerator accelerator);
  AcceleratorChoice Probe();

  Executor& inner_;
  const MicroVmOptions options_;
  const unsigned long tsc_khz_;
  std::once_flag probe_started_;
  std::shared_future<AcceleratorChoice> probe_;
};

}  // namespace krond::exec
