#include "exec/microvm_executor.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <utility>

#include "exec/microvm_guest.h"
#include "exec/microvm_protocol.h"
#include "exec/spawn.h"

namespace krond::exec {
namespace {

using std::chrono::milliseconds;

// Network runs: QEMU in a network namespace of its own, connected to the outside by
// slirp4netns (see the class comment). Arguments: unshare, slirp4netns, the run's scratch
// directory, then QEMU's argv. The namespace's QEMU waits on a FIFO until slirp4netns has
// configured tap0, so the guest never starts without its network. Exits with QEMU's status.
constexpr std::string_view kNetworkWrapper = R"sh(unshare=$1 s4n=$2 dir=$3
shift 3
mkfifo "$dir/go" "$dir/ready" || exit 125
"$unshare" --net -- /bin/sh -c 'ip link set lo up && read -r _ <"$0" && exec "$@"' "$dir/go" "$@" &
vm=$!
"$s4n" --configure --disable-host-loopback --cidr=10.0.3.0/24 --ready-fd=3 "$vm" tap0 \
  3>"$dir/ready" >"$dir/slirp4netns.log" 2>&1 &
net=$!
ok=
read -r ok <"$dir/ready"  # "1", without a newline
if [ "$ok" = 1 ]; then
  echo go >"$dir/go"
else
  echo "krond: slirp4netns could not connect the VM's network namespace:" \
    $(tail -n 3 "$dir/slirp4netns.log")
  kill $vm 2>/dev/null
fi
wait $vm
status=$?
kill $net 2>/dev/null
wait $net 2>/dev/null
exit $status
)sh";

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError("cannot read " + path + ": " + internal::ErrnoText(errno));
  std::ostringstream data;
  data << in.rdbuf();
  return data.str();
}

Status WriteFile(const std::string& path, std::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  out.close();
  if (!out) return MakeError("cannot write " + path);
  return {};
}

Status CheckExecutable(const std::string& path) {
  if (access(path.c_str(), X_OK) != 0) return MakeError(path + ": " + internal::ErrnoText(errno));
  return {};
}

// The last non-empty line of `text`, printable ASCII only, at most 300 bytes: a console may
// hold anything, and this goes into the run's error.
std::string LastLine(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.remove_suffix(1);
  }
  const std::size_t newline = text.find_last_of('\n');
  if (newline != std::string_view::npos) text.remove_prefix(newline + 1);
  if (text.size() > 300) text.remove_prefix(text.size() - 300);
  std::string out;
  for (char c : text) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

std::string Tail(std::string text, std::size_t bytes) {
  if (text.size() > bytes) text.erase(0, text.size() - bytes);
  return text;
}

// A scratch directory removed (with its contents) when this goes out of scope.
class ScratchDir {
 public:
  static Result<ScratchDir> Make(const std::string& parent) {
    std::string path = parent + "/krond-vm-XXXXXX";
    if (mkdtemp(path.data()) == nullptr) {
      return MakeError("cannot make a scratch directory in " + parent + ": " +
                       internal::ErrnoText(errno));
    }
    return ScratchDir(std::move(path));
  }
  ScratchDir(ScratchDir&& other) noexcept : path_(std::exchange(other.path_, "")) {}
  ScratchDir& operator=(ScratchDir&&) = delete;
  ~ScratchDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  explicit ScratchDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

std::string DefaultRuntimeDir() {
  const char* tmp = std::getenv("TMPDIR");
  return tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
}

unsigned long HostTscKhz() {
  Result<std::string> cpuinfo = ReadFile("/proc/cpuinfo");
  const unsigned long khz = cpuinfo ? microvm::TscKhzFromCpuinfo(*cpuinfo) : 0;
  // Any plausible value boots; a wrong one only skews the guest's clock.
  return khz != 0 ? khz : 2'000'000;
}

}  // namespace

MicroVmExecutor::MicroVmExecutor(Executor& inner, MicroVmOptions options)
    : inner_(inner), options_(std::move(options)), tsc_khz_(HostTscKhz()) {}

MicroVmExecutor::~MicroVmExecutor() = default;

Status MicroVmExecutor::CheckUsable() const {
  if (options_.image_dir.empty()) return MakeError("no microVM image directory configured");
  if (Status ok = CheckExecutable(options_.qemu_path); !ok) {
    return MakeError("QEMU (Debian qemu-system-x86): " + ok.error().message);
  }
  for (const char* file : {"vmlinuz", "initrd.img"}) {
    const std::string path = options_.image_dir + "/" + file;
    if (access(path.c_str(), R_OK) != 0) {
      return MakeError("microVM image: " + path + ": " + internal::ErrnoText(errno) +
                       " (build it with scripts/microvm-image)");
    }
  }
  return {};
}

void MicroVmExecutor::StartAcceleratorProbe() {
  std::call_once(probe_started_, [this] {
    probe_ = std::async(std::launch::async, [this] {
               AcceleratorChoice choice =
                   options_.accelerator ? AcceleratorChoice{*options_.accelerator, "configured"}
                                        : Probe();
               if (options_.on_accelerator_chosen) {
                 options_.on_accelerator_chosen(choice.accelerator, choice.reason);
               }
               return choice;
             }).share();
  });
}

MicroVmExecutor::AcceleratorChoice MicroVmExecutor::ChosenAccelerator() {
  StartAcceleratorProbe();
  std::shared_future<AcceleratorChoice> mine = probe_;  // One copy per thread.
  return mine.get();
}

MicroVmExecutor::AcceleratorChoice MicroVmExecutor::Probe() {
  const int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
  if (fd < 0) return {Accelerator::kTcg, "/dev/kvm: " + internal::ErrnoText(errno)};
  close(fd);
  RunSpec spec;
  spec.argv = {"/bin/true"};
  spec.timeout = options_.kvm_probe_deadline;
  spec.kill_grace = milliseconds(0);
  CancelToken never;
  const RunOutcome outcome = RunWith(spec, never, Accelerator::kKvm);
  const auto took = std::to_string(outcome.Duration().count()) + "ms";
  if (outcome.kind == OutcomeKind::kSucceeded) {
    return {Accelerator::kKvm, "a KVM guest booted and ran /bin/true in " + took};
  }
  std::string why = outcome.kind == OutcomeKind::kBootFailed && !outcome.error.empty()
                        ? outcome.error
                        : std::string(ToString(outcome.kind));
  return {Accelerator::kTcg, "a KVM guest did not run /bin/true within " +
                                 std::to_string(options_.kvm_probe_deadline.count()) + "ms (" +
                                 why + ")"};
}

std::vector<std::string> MicroVmExecutor::VmArgv(const RunSpec& spec, Accelerator accelerator,
                                                 const std::string& initrd,
                                                 const std::string& run_dir) const {
  const std::uint32_t memory =
      spec.sandbox.vm_memory_mib != 0 ? spec.sandbox.vm_memory_mib : options_.default_memory_mib;
  const std::uint32_t vcpus =
      spec.sandbox.vm_vcpus != 0 ? spec.sandbox.vm_vcpus : options_.default_vcpus;
  // quiet loglevel=0: the console carries only the agent's records and the command's
  // output, but a panic still prints (it raises the log level). panic=-1 and reboot with
  // -no-reboot: a crashed or finished guest ends QEMU at once.
  std::string cmdline = "console=ttyS0 quiet loglevel=0 panic=-1 reboot=t";
  if (accelerator == Accelerator::kTcg) cmdline += " tsc_early_khz=" + std::to_string(tsc_khz_);
  std::vector<std::string> qemu = {
      options_.qemu_path,
      "-M",
      "microvm",
      "-accel",
      accelerator == Accelerator::kKvm ? "kvm" : "tcg",
      "-cpu",
      accelerator == Accelerator::kKvm ? "host" : "max",
      "-m",
      std::to_string(memory) + "M",
      "-smp",
      std::to_string(vcpus),
      "-nodefaults",
      "-no-user-config",
      "-display",
      "none",
      "-serial",
      "stdio",
      "-kernel",
      options_.image_dir + "/vmlinuz",
      "-initrd",
      initrd,
      "-append",
      cmdline,
      "-no-reboot",
  };
  if (!spec.sandbox.allow_network) return qemu;
  qemu.insert(qemu.end(), {"-netdev", "user,id=net0", "-device", "virtio-net-device,netdev=net0"});
  std::vector<std::string> argv = {"/bin/sh",
                                   "-c",
                                   std::string(kNetworkWrapper),
                                   "krond-microvm-network",
                                   options_.unshare_path,
                                   options_.slirp4netns_path,
                                   run_dir};
  argv.insert(argv.end(), qemu.begin(), qemu.end());
  return argv;
}

RunOutcome MicroVmExecutor::Run(const RunSpec& spec, CancelToken& cancel) {
  if (Status valid = spec.Validate(); !valid) {
    RunOutcome outcome;
    outcome.error = "invalid run spec: " + valid.error().message;
    return outcome;
  }
  return RunWith(spec, cancel, ChosenAccelerator().accelerator);
}

RunOutcome MicroVmExecutor::RunWith(const RunSpec& spec, CancelToken& cancel,
                                    Accelerator accelerator) {
  auto spawn_failed = [accelerator](std::string error) {
    RunOutcome outcome;
    outcome.kind = OutcomeKind::kSpawnFailed;
    outcome.error = std::move(error);
    outcome.vm = VmReport{accelerator, std::nullopt};
    return outcome;
  };
  if (Status usable = CheckUsable(); !usable) return spawn_failed(usable.error().message);
  Result<std::string> script = microvm::GuestScript(spec);
  if (!script) return spawn_failed(script.error().message);
  std::vector<microvm::CpioFile> files = {
      {"krond/run.sh", *script, 0755},
      {"krond/clock",
       std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                          std::chrono::system_clock::now().time_since_epoch())
                          .count()),
       0644}};
  if (spec.sandbox.allow_network) files.push_back({"krond/network", "", 0644});
  Result<std::string> base = ReadFile(options_.image_dir + "/initrd.img");
  if (!base) return spawn_failed(base.error().message);
  Result<ScratchDir> dir =
      ScratchDir::Make(options_.runtime_dir.empty() ? DefaultRuntimeDir() : options_.runtime_dir);
  if (!dir) return spawn_failed(dir.error().message);
  const std::string initrd = dir->path() + "/initrd.img";
  if (Status written =
          WriteFile(initrd, microvm::ConcatInitramfs(*base, microvm::CpioArchive(files)));
      !written) {
    return spawn_failed(written.error().message);
  }

  RunSpec vm;
  vm.argv = VmArgv(spec, accelerator, initrd, dir->path());
  vm.timeout = spec.timeout;
  vm.kill_grace = spec.kill_grace;
  // RunSpec::Validate caps the tail at 64 MiB; the slack must not push a valid spec over it.
  vm.output_tail_bytes =
      std::min<std::size_t>(spec.output_tail_bytes + options_.console_slack_bytes, 64 << 20);
  return Interpret(spec, inner_.Run(vm, cancel), accelerator);
}

RunOutcome MicroVmExecutor::Interpret(const RunSpec& spec, RunOutcome vm, Accelerator accelerator) {
  RunOutcome out = std::move(vm);
  out.vm = VmReport{accelerator, std::nullopt};
  // Helpers of the network wrapper (slirp4netns) outlive QEMU by design; the guest's own
  // leftovers die with the VM.
  out.descendants_killed = false;
  if (out.kind == OutcomeKind::kSpawnFailed) return out;

  const std::string console = std::move(out.output_tail);
  ConsoleReport report = ParseConsole(console);
  if (report.boot_ms) out.vm->boot = milliseconds(*report.boot_ms);
  const std::uint64_t not_output = console.size() - report.output.size();
  out.output_bytes_total =
      out.output_bytes_total > not_output ? out.output_bytes_total - not_output : 0;
  out.output_tail = Tail(std::move(report.output), spec.output_tail_bytes);
  out.output_bytes_dropped = out.output_bytes_total - out.output_tail.size();
  out.signal = 0;

  if (report.status) {
    out.kind = *report.status == 0 ? OutcomeKind::kSucceeded : OutcomeKind::kFailed;
    out.exit_code = *report.status;
    out.error.clear();
    return out;
  }
  out.exit_code = -1;
  if (!report.started) {
    const OutcomeKind how = out.kind;
    out.kind = OutcomeKind::kBootFailed;
    // The boot console explains the failure (QEMU's error, a kernel panic).
    out.output_tail = Tail(report.boot_console, spec.output_tail_bytes);
    out.output_bytes_total = out.output_tail.size();
    out.output_bytes_dropped = 0;
    if (report.boot_error) {
      out.error = "the VM could not start the command: " + LastLine(*report.boot_error);
    } else if (how == OutcomeKind::kTimedOut) {
      out.error = "the VM did not start the command within the run's timeout of " +
                  std::to_string(spec.timeout.count()) + "ms";
    } else if (how == OutcomeKind::kCancelled) {
      out.kind = OutcomeKind::kCancelled;
      out.error.clear();
    } else {
      const std::string last = LastLine(report.boot_console);
      out.error = "the VM stopped before starting the command" +
                  (last.empty() ? std::string(" (no console output)") : ": " + last);
    }
    return out;
  }
  if (out.kind == OutcomeKind::kTimedOut || out.kind == OutcomeKind::kCancelled) return out;
  out.kind = OutcomeKind::kFailed;
  out.error = "the VM stopped before the command finished (guest crash?)";
  return out;
}

}  // namespace krond::exec
