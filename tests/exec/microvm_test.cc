// Pure parts of the microVM sandbox: console protocol, guest script, cpio, QEMU argv and the
// mapping of QEMU's fate to a run outcome. No VM is booted here (tests/exec/microvm_vm_test.cc
// boots real ones).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "common/clock.h"
#include "exec/microvm_executor.h"
#include "exec/microvm_guest.h"
#include "exec/microvm_protocol.h"
#include "exec/process_executor.h"

namespace krond::exec {
namespace {

using std::chrono::milliseconds;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string Record(std::string body) { return "\x1b_krond " + body + "\x1b\\"; }

TEST(ParseConsoleTest, OutputBetweenStartAndExit) {
  const ConsoleReport r = ParseConsole(Record("start boot_ms=1840") + "hello\nworld" +
                                       Record("exit status=3 boot_ms=1840 run_ms=25"));
  EXPECT_TRUE(r.started);
  EXPECT_EQ(r.status, 3);
  EXPECT_EQ(r.boot_ms, 1840);
  EXPECT_EQ(r.run_ms, 25);
  EXPECT_EQ(r.output, "hello\nworld");
  EXPECT_EQ(r.boot_console, "");
  EXPECT_FALSE(r.boot_error);
}

TEST(ParseConsoleTest, BootConsoleBeforeStartAndNothingAfterIt) {
  const ConsoleReport r =
      ParseConsole("[ 0.1] kernel says hi\n" + Record("start boot_ms=7") + "out" +
                   Record("exit status=0 run_ms=1") + "qemu: shutting down");
  EXPECT_EQ(r.boot_console, "[ 0.1] kernel says hi\n");
  EXPECT_EQ(r.output, "out");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.boot_ms, 7);  // From the start record when the exit record lacks it.
}

TEST(ParseConsoleTest, NeverStartedKeepsEverythingAsBootConsole) {
  const ConsoleReport r = ParseConsole("qemu-system-x86_64: -kernel: No such file\n");
  EXPECT_FALSE(r.started);
  EXPECT_FALSE(r.status);
  EXPECT_EQ(r.boot_console, "qemu-system-x86_64: -kernel: No such file\n");
  EXPECT_EQ(r.output, "");
}

TEST(ParseConsoleTest, BootErrorMessageRunsToTheEndOfTheRecord) {
  const ConsoleReport r = ParseConsole(Record("boot_error msg=cannot load kernel module virtio"));
  EXPECT_FALSE(r.started);
  EXPECT_EQ(r.boot_error, "cannot load kernel module virtio");
}

TEST(ParseConsoleTest, StartedButNoExitMeansTheVmStoppedMidCommand) {
  const ConsoleReport r = ParseConsole(Record("start boot_ms=5") + "partial output");
  EXPECT_TRUE(r.started);
  EXPECT_FALSE(r.status);
  EXPECT_EQ(r.output, "partial output");
}

TEST(ParseConsoleTest, TruncatedFrontStillFindsTheExit) {
  // The start record fell off the front of a long output's tail.
  const ConsoleReport r = ParseConsole("end of a long output\n" + Record("exit status=0 run_ms=9"));
  EXPECT_TRUE(r.started);
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.output, "end of a long output\n");
}

TEST(ParseConsoleTest, FakeRecordsPrintedByTheCommandLoseToTheAgentsLastExit) {
  const ConsoleReport r =
      ParseConsole(Record("start boot_ms=5") + "a" + Record("exit status=0 run_ms=1") + "b" +
                   Record("start boot_ms=999") + "c" + Record("exit status=1 run_ms=2"));
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.run_ms, 2);
  EXPECT_EQ(r.boot_ms, 5);     // The exit record carries none: the first start record's.
  EXPECT_EQ(r.output, "abc");  // Records inside the output are not output.
}

TEST(ParseConsoleTest, MalformedRecordsAndStrayEscapesAreOutput) {
  const std::string unterminated = "\x1b_krond exit status=0";
  const std::string foreign = "\x1b_tmux;x\x1b\\";
  const std::string colour = "\x1b[31mred\x1b[0m";
  ConsoleReport r = ParseConsole(Record("start boot_ms=1") + colour + foreign + unterminated);
  EXPECT_TRUE(r.started);
  EXPECT_FALSE(r.status);
  EXPECT_EQ(r.output, colour + foreign + unterminated);
  // The last exit record counts, and an unparseable or negative status is not trusted.
  r = ParseConsole(Record("start boot_ms=1") + Record("exit status=0") + Record("exit status=x"));
  EXPECT_FALSE(r.status);
  r = ParseConsole(Record("start boot_ms=1") + Record("exit status=-4"));
  EXPECT_FALSE(r.status);
}

TEST(ParseConsoleTest, OverlongRecordIsData) {
  const std::string body(2000, 'x');
  const std::string fake = "\x1b_krond exit status=0 " + body + "\x1b\\";
  const ConsoleReport r = ParseConsole(Record("start boot_ms=1") + fake);
  EXPECT_FALSE(r.status);
  EXPECT_EQ(r.output, fake);
}

TEST(ParseConsoleTest, ExitBeforeStartIsIgnored) {
  const ConsoleReport r = ParseConsole(Record("exit status=0") + Record("start boot_ms=1") + "x");
  EXPECT_TRUE(r.started);
  EXPECT_FALSE(r.status);
  EXPECT_EQ(r.output, "x");
}

TEST(GuestScriptTest, QuotesEnvironmentCwdAndArgv) {
  RunSpec spec;
  spec.argv = {"/bin/sh", "-c", "echo 'it''s' \"$HOME\""};
  spec.env = {{"KROND_JOB", "a'b"}};
  Result<std::string> script = microvm::GuestScript(spec);
  ASSERT_TRUE(script);
  EXPECT_EQ(*script,
            "export KROND_JOB='a'\\''b'\n"
            "cd '/tmp' || exit 126\n"
            "exec '/bin/sh' '-c' 'echo '\\''it'\\'''\\''s'\\'' \"$HOME\"'\n");
}

TEST(GuestScriptTest, RejectsNamesTheShellCannotExport) {
  RunSpec spec;
  spec.argv = {"true"};
  spec.env = {{"A-B", "1"}};
  EXPECT_FALSE(microvm::GuestScript(spec));
  spec.env = {{"1A", "1"}};
  EXPECT_FALSE(microvm::GuestScript(spec));
}

TEST(CpioTest, NewcEntriesArePaddedAndEndWithATrailer) {
  const std::string archive = microvm::CpioArchive({{"krond/x", "abc", 0755}});
  // 110-byte header + "krond/x\0" (8) = 118, padded to 120; data 3 padded to 4.
  ASSERT_GE(archive.size(), 124u);
  EXPECT_THAT(archive, StartsWith("070701"));
  EXPECT_EQ(archive.substr(14, 8), "000081ED");  // regular file, 0755
  EXPECT_EQ(archive.substr(54, 8), "00000003");  // file size
  EXPECT_EQ(archive.substr(94, 8), "00000008");  // name size with its NUL
  EXPECT_EQ(archive.substr(110, 8), std::string("krond/x\0", 8));
  EXPECT_EQ(archive.substr(120, 4), std::string("abc\0", 4));
  EXPECT_EQ(archive.substr(124 + 110, 10), "TRAILER!!!");
  EXPECT_EQ(archive.size() % 4, 0u);
}

TEST(CpioTest, ConcatenationAlignsTheRunArchive) {
  EXPECT_EQ(microvm::ConcatInitramfs("12345", "R"), std::string("12345\0\0\0R", 9));
  EXPECT_EQ(microvm::ConcatInitramfs("1234", "R"), "1234R");
}

TEST(TscTest, ReadsCpuMhz) {
  EXPECT_EQ(microvm::TscKhzFromCpuinfo("processor\t: 0\ncpu MHz\t\t: 2600.004\nflags: x\n"),
            2600004u);
  EXPECT_EQ(microvm::TscKhzFromCpuinfo("nothing here\n"), 0u);
  EXPECT_EQ(microvm::TscKhzFromCpuinfo("cpu MHz : banana\n"), 0u);
}

class MicroVmArgvTest : public ::testing::Test {
 protected:
  MicroVmArgvTest() {
    options_.image_dir = "/img";
    options_.qemu_path = "/q";
  }
  RealClock clock_;
  ProcessExecutor process_{clock_};
  MicroVmOptions options_;
};

TEST_F(MicroVmArgvTest, NoNicWithoutNetworkAndTheRequestedSize) {
  MicroVmExecutor vm(process_, options_);
  RunSpec spec;
  spec.argv = {"true"};
  spec.sandbox.vm_memory_mib = 512;
  spec.sandbox.vm_vcpus = 2;
  const std::vector<std::string> argv = vm.VmArgv(spec, Accelerator::kTcg, "/run/i", "/run");
  EXPECT_EQ(argv[0], "/q");
  const std::string joined = ::testing::PrintToString(argv);
  EXPECT_THAT(joined, HasSubstr("\"-M\", \"microvm\""));
  EXPECT_THAT(joined, HasSubstr("\"-accel\", \"tcg\", \"-cpu\", \"max\""));
  EXPECT_THAT(joined, HasSubstr("\"-m\", \"512M\", \"-smp\", \"2\""));
  EXPECT_THAT(joined, HasSubstr("\"-nodefaults\""));
  EXPECT_THAT(joined, HasSubstr("\"-kernel\", \"/img/vmlinuz\", \"-initrd\", \"/run/i\""));
  EXPECT_THAT(joined, HasSubstr("tsc_early_khz="));
  EXPECT_THAT(joined, Not(HasSubstr("netdev")));
}

TEST_F(MicroVmArgvTest, DefaultsAndKvm) {
  MicroVmExecutor vm(process_, options_);
  RunSpec spec;
  spec.argv = {"true"};
  const std::string joined =
      ::testing::PrintToString(vm.VmArgv(spec, Accelerator::kKvm, "/run/i", "/run"));
  EXPECT_THAT(joined, HasSubstr("\"-accel\", \"kvm\", \"-cpu\", \"host\""));
  EXPECT_THAT(joined, HasSubstr("\"-m\", \"256M\", \"-smp\", \"1\""));
  EXPECT_THAT(joined, Not(HasSubstr("tsc_early_khz")));
}

TEST_F(MicroVmArgvTest, NetworkRunsQemuInItsOwnNamespaceBehindSlirp4netns) {
  options_.unshare_path = "/u";
  options_.slirp4netns_path = "/s";
  MicroVmExecutor vm(process_, options_);
  RunSpec spec;
  spec.argv = {"true"};
  spec.sandbox.allow_network = true;
  const std::vector<std::string> argv = vm.VmArgv(spec, Accelerator::kTcg, "/run/i", "/run");
  ASSERT_GE(argv.size(), 8u);
  EXPECT_EQ(argv[0], "/bin/sh");
  EXPECT_THAT(argv[2], HasSubstr("--disable-host-loopback"));
  EXPECT_THAT(argv[2], HasSubstr("--net"));
  EXPECT_EQ(argv[4], "/u");
  EXPECT_EQ(argv[5], "/s");
  EXPECT_EQ(argv[6], "/run");
  EXPECT_EQ(argv[7], "/q");
  EXPECT_THAT(std::vector<std::string>(argv.end() - 4, argv.end()),
              ElementsAre("-netdev", "user,id=net0", "-device", "virtio-net-device,netdev=net0"));
}

RunOutcome Qemu(OutcomeKind kind, std::string console) {
  RunOutcome o;
  o.kind = kind;
  o.exit_code = kind == OutcomeKind::kTimedOut ? 143 : 0;
  o.output_bytes_total = console.size() + 100;  // 100 bytes of boot console fell off
  o.output_bytes_dropped = 100;
  o.output_tail = std::move(console);
  o.pid = 42;
  return o;
}

RunSpec Spec() {
  RunSpec spec;
  spec.argv = {"true"};
  spec.timeout = milliseconds(30'000);
  spec.output_tail_bytes = 4;
  return spec;
}

TEST(InterpretTest, ExitStatusGivesTheOutcomeAndOutputIsTrimmedToTheTail) {
  const RunOutcome o = MicroVmExecutor::Interpret(
      Spec(),
      Qemu(OutcomeKind::kSucceeded,
           Record("start boot_ms=1500") + "abcdef" + Record("exit status=2 boot_ms=1500 run_ms=3")),
      Accelerator::kTcg);
  EXPECT_EQ(o.kind, OutcomeKind::kFailed);
  EXPECT_EQ(o.exit_code, 2);
  EXPECT_EQ(o.output_tail, "cdef");
  EXPECT_EQ(o.output_bytes_total, 106u);  // everything but the records in the tail
  EXPECT_EQ(o.output_bytes_dropped, 102u);
  ASSERT_TRUE(o.vm);
  EXPECT_EQ(o.vm->accelerator, Accelerator::kTcg);
  EXPECT_EQ(o.vm->boot, milliseconds(1500));
  EXPECT_EQ(o.pid, 42);
}

TEST(InterpretTest, ZeroStatusSucceedsEvenIfQemuWasKilledDuringPowerOff) {
  const RunOutcome o = MicroVmExecutor::Interpret(
      Spec(),
      Qemu(OutcomeKind::kTimedOut, Record("start boot_ms=1") + Record("exit status=0 run_ms=1")),
      Accelerator::kKvm);
  EXPECT_EQ(o.kind, OutcomeKind::kSucceeded);
  EXPECT_EQ(o.exit_code, 0);
}

TEST(InterpretTest, KilledAfterTheStartIsTimedOut) {
  const RunOutcome o = MicroVmExecutor::Interpret(
      Spec(), Qemu(OutcomeKind::kTimedOut, Record("start boot_ms=1") + "zzz"), Accelerator::kTcg);
  EXPECT_EQ(o.kind, OutcomeKind::kTimedOut);
  EXPECT_EQ(o.output_tail, "zzz");
}

TEST(InterpretTest, NoStartIsBootFailedWithTheReason) {
  RunOutcome o = MicroVmExecutor::Interpret(Spec(), Qemu(OutcomeKind::kTimedOut, "Probing EDD"),
                                            Accelerator::kKvm);
  EXPECT_EQ(o.kind, OutcomeKind::kBootFailed);
  EXPECT_EQ(o.exit_code, -1);
  EXPECT_THAT(o.error, HasSubstr("did not start the command within the run's timeout of 30000ms"));

  o = MicroVmExecutor::Interpret(
      Spec(),
      Qemu(OutcomeKind::kFailed, "qemu-system-x86_64: -m 99999999M: cannot set up guest memory\n"),
      Accelerator::kTcg);
  EXPECT_EQ(o.kind, OutcomeKind::kBootFailed);
  EXPECT_THAT(o.error, HasSubstr("cannot set up guest memory"));
  EXPECT_EQ(o.output_tail, "ory\n");  // the end of the console, for the operator

  o = MicroVmExecutor::Interpret(
      Spec(), Qemu(OutcomeKind::kSucceeded, Record("boot_error msg=cannot configure eth0")),
      Accelerator::kTcg);
  EXPECT_EQ(o.kind, OutcomeKind::kBootFailed);
  EXPECT_EQ(o.error, "the VM could not start the command: cannot configure eth0");
}

TEST(InterpretTest, VmThatStopsMidCommandFailed) {
  const RunOutcome o = MicroVmExecutor::Interpret(
      Spec(), Qemu(OutcomeKind::kSucceeded, Record("start boot_ms=1") + "Kernel panic"),
      Accelerator::kTcg);
  EXPECT_EQ(o.kind, OutcomeKind::kFailed);
  EXPECT_EQ(o.exit_code, -1);
  EXPECT_THAT(o.error, HasSubstr("stopped before the command finished"));
}

TEST(InterpretTest, SpawnFailureAndCancelPassThrough) {
  RunOutcome spawn;
  spawn.kind = OutcomeKind::kSpawnFailed;
  spawn.error = "/q: No such file or directory";
  RunOutcome o = MicroVmExecutor::Interpret(Spec(), spawn, Accelerator::kTcg);
  EXPECT_EQ(o.kind, OutcomeKind::kSpawnFailed);
  EXPECT_EQ(o.error, spawn.error);
  o = MicroVmExecutor::Interpret(Spec(), Qemu(OutcomeKind::kCancelled, ""), Accelerator::kTcg);
  EXPECT_EQ(o.kind, OutcomeKind::kCancelled);
}

TEST(MicroVmExecutorTest, MissingImageIsSpawnFailedWithTheFix) {
  RealClock clock;
  ProcessExecutor process(clock);
  MicroVmOptions options;
  options.image_dir = "/nonexistent-krond-image";
  options.accelerator = Accelerator::kTcg;
  MicroVmExecutor vm(process, options);
  EXPECT_FALSE(vm.CheckUsable());
  CancelToken token;
  const RunOutcome o = vm.Run(Spec(), token);
  EXPECT_EQ(o.kind, OutcomeKind::kSpawnFailed);
  EXPECT_THAT(o.error, HasSubstr("scripts/microvm-image"));
  EXPECT_EQ(vm.ChosenAccelerator().reason, "configured");
}

}  // namespace
}  // namespace krond::exec
