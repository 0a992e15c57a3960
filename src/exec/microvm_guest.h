#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "common/result.h"
#include "exec/run_spec.h"

// What MicroVmExecutor hands to the guest: the run as a shell script, packed into a cpio
// archive that the kernel unpacks over the image's initramfs. Pure functions; internal to
// src/exec, exposed for tests.
namespace krond::exec::microvm {

// /krond/run.sh for the agent (scripts/microvm/init): exports spec.env (the worker's own
// environment never enters the VM, whatever spec.inherit_env says), changes to spec.cwd
// (default /tmp, the run's scratch space) and execs spec.argv. An error if an environment
// variable name is not a shell identifier (the only names the worker passes are KROND_*).
[[nodiscard]] Result<std::string> GuestScript(const RunSpec& spec);

struct CpioFile {
  std::string path;  // relative, e.g. "krond/run.sh"; its directory must exist in the image
  std::string data;
  unsigned mode = 0644;
};

// A cpio archive in the "newc" format the kernel's initramfs unpacker reads, with a
// trailer, owned by root and dated 0.
std::string CpioArchive(const std::vector<CpioFile>& files);

// The initrd of one run: `base` (the image's initramfs, padded with zeros to the 4-byte
// boundary at which the kernel looks for the next archive) followed by `run`.
std::string ConcatInitramfs(std::string_view base, std::string_view run);

// The TSC frequency in kHz a TCG guest is told (tsc_early_khz), from the host's
// /proc/cpuinfo ("cpu MHz"). Without it the guest kernel finds no clock to calibrate
// against on the microvm machine (no PIT/HPET reference) and hangs at boot under TCG;
// QEMU's emulated TSC runs at the host's rate. 0 if the text has no such line.
unsigned long TscKhzFromCpuinfo(std::string_view cpuinfo);

}  // namespace krond::exec::microvm
