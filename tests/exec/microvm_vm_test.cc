// MicroVmExecutor with real QEMU guests (label `microvm`; the image is built by the
// microvm_image ctest fixture, scripts/microvm-image). Each test boots one or two VMs; under
// TCG a boot takes 2-5 s on the 2-core CI host.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>

#include "common/clock.h"
#include "exec/loopback_listener.h"
#include "exec/microvm_executor.h"
#include "exec/process_executor.h"

namespace krond::exec {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;
using ::testing::Not;

std::string ImageDir() {
  const char* dir = std::getenv("KROND_MICROVM_IMAGE");
  return dir != nullptr ? dir : "var/microvm";
}

RunSpec Sh(std::string command, milliseconds timeout = milliseconds(60'000)) {
  RunSpec spec;
  spec.argv = {"/bin/sh", "-c", std::move(command)};
  spec.timeout = timeout;
  spec.kill_grace = milliseconds(1000);
  return spec;
}

// One executor for the suite, so the KVM probe (up to 5 s where KVM hangs) runs once.
class MicroVmTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    MicroVmOptions options;
    options.image_dir = ImageDir();
    process_ = new ProcessExecutor(clock_);
    vm_ = new MicroVmExecutor(*process_, options);
  }
  static void TearDownTestSuite() {
    delete vm_;
    delete process_;
  }
  void SetUp() override { ASSERT_TRUE(vm_->CheckUsable()) << vm_->CheckUsable().error().message; }
  RunOutcome Run(const RunSpec& spec) {
    CancelToken token;
    return vm_->Run(spec, token);
  }
  static inline RealClock clock_;
  static inline ProcessExecutor* process_ = nullptr;
  static inline MicroVmExecutor* vm_ = nullptr;
};

TEST_F(MicroVmTest, RunsTheCommandInItsOwnKernelAndReportsOutputStatusAndBoot) {
  setenv("KROND_TEST_WORKER_ONLY", "leaked", 1);
  RunSpec spec = Sh(
      "echo \"job=$KROND_JOB worker=$KROND_TEST_WORKER_ONLY\"; uname -r; cat /proc/cmdline; pwd; "
      "echo data > scratch && cat scratch; touch /etc/x 2>&1; exit 3");
  spec.env = {{"KROND_JOB", "it's"}};
  const RunOutcome o = Run(spec);
  EXPECT_EQ(o.kind, OutcomeKind::kFailed) << o.error << o.output_tail;
  EXPECT_EQ(o.exit_code, 3);
  EXPECT_THAT(o.output_tail, HasSubstr("job=it's worker=\n"));  // the worker's env stays out
  EXPECT_THAT(o.output_tail, HasSubstr("cloud-amd64"));
  EXPECT_THAT(o.output_tail, HasSubstr("console=ttyS0"));
  EXPECT_THAT(o.output_tail, HasSubstr("/tmp\ndata\n"));
  EXPECT_THAT(o.output_tail, HasSubstr("Read-only file system"));
  EXPECT_THAT(o.output_tail, Not(HasSubstr("\x1b_krond")));
  EXPECT_EQ(o.output_bytes_total, o.output_tail.size());
  ASSERT_TRUE(o.vm);
  ASSERT_TRUE(o.vm->boot);
  EXPECT_GT(o.vm->boot->count(), 0);
  EXPECT_LT(o.vm->boot.value(), o.Duration());
  RecordProperty("accelerator", std::string(ToString(o.vm->accelerator)));
  RecordProperty("boot_ms", std::to_string(o.vm->boot->count()));
  RecordProperty("run_ms", std::to_string(o.Duration().count()));
}

TEST_F(MicroVmTest, HostFilesAreNotVisible) {
  const std::string secret = "/tmp/krond-microvm-secret-" + std::to_string(getpid());
  std::ofstream(secret) << "host secret\n";
  const RunOutcome o = Run(Sh("cat " + secret + "; ls /work /root /etc/krond 2>&1; exit 0"));
  std::remove(secret.c_str());
  EXPECT_EQ(o.kind, OutcomeKind::kSucceeded) << o.error << o.output_tail;
  EXPECT_THAT(o.output_tail, HasSubstr("No such file or directory"));
  EXPECT_THAT(o.output_tail, Not(HasSubstr("host secret")));
}

TEST_F(MicroVmTest, TimeoutKillsTheVm) {
  const RunOutcome o = Run(Sh("echo started; sleep 600", milliseconds(20'000)));
  EXPECT_EQ(o.kind, OutcomeKind::kTimedOut) << o.error << o.output_tail;
  EXPECT_THAT(o.output_tail, HasSubstr("started"));
  EXPECT_LT(o.Duration(), milliseconds(25'000));
  EXPECT_NE(kill(o.pid, 0), 0) << "QEMU survived its run";
}

TEST_F(MicroVmTest, TooShortATimeoutToBootIsBootFailed) {
  const RunOutcome o = Run(Sh("true", milliseconds(100)));
  EXPECT_EQ(o.kind, OutcomeKind::kBootFailed);
  EXPECT_THAT(o.error, HasSubstr("did not start the command within the run's timeout"));
}

TEST_F(MicroVmTest, MemoryExhaustionIsContainedInTheVm) {
  RunSpec spec = Sh("grep MemTotal /proc/meminfo; tail /dev/zero; echo survived $?");
  spec.sandbox.vm_memory_mib = 128;
  const RunOutcome o = Run(spec);
  EXPECT_EQ(o.kind, OutcomeKind::kSucceeded) << o.error << o.output_tail;
  EXPECT_THAT(o.output_tail, HasSubstr("MemTotal:"));
  // The guest kernel's OOM killer ended `tail` (SIGKILL: status 137); the agent went on.
  EXPECT_THAT(o.output_tail, HasSubstr("survived 137"));
}

TEST_F(MicroVmTest, NoNetworkUnlessAllowedAndNeverTheHostsLoopback) {
  // A service on the host's loopback: what a job must not reach (the worker's metrics,
  // Kafka on 127.0.0.1).
  LoopbackListener listener;
  ASSERT_TRUE(listener.Valid());
  const std::string& port = listener.port();
  // 10.0.2.2 is where QEMU's user-mode network maps the host's 127.0.0.1.
  const std::string probe =
      "echo eth0=$(ip -o link | grep -c eth0); "
      "echo x | nc -w 3 10.0.2.2 " +
      port +
      " && echo REACHED; "
      "echo x | nc -w 3 127.0.0.1 " +
      port +
      " && echo REACHED; "
      // A loaded host can be slow to forward a query: three tries.
      "for i in 1 2 3; do n=$(nslookup deb.debian.org 10.0.2.3 | grep -c '^Address'); "
      "[ $n -gt 0 ] && break; done; echo resolved=$n; exit 0";

  RunOutcome o = Run(Sh(probe));
  EXPECT_EQ(o.kind, OutcomeKind::kSucceeded) << o.error << o.output_tail;
  EXPECT_THAT(o.output_tail, HasSubstr("eth0=0\n"));  // no NIC at all
  EXPECT_THAT(o.output_tail, HasSubstr("resolved=0\n"));
  EXPECT_THAT(o.output_tail, HasSubstr("(10.0.2.2): Network is unreachable"));
  EXPECT_THAT(o.output_tail, Not(HasSubstr("REACHED")));

  RunSpec with_network = Sh(probe);
  with_network.sandbox.allow_network = true;
  o = Run(with_network);
  EXPECT_EQ(o.kind, OutcomeKind::kSucceeded) << o.error << o.output_tail;
  EXPECT_THAT(o.output_tail, HasSubstr("eth0=1\n"));
  EXPECT_THAT(o.output_tail, Not(HasSubstr("REACHED")));
  // The NIC works: 10.0.2.2 answers (refused, from the namespace's empty loopback) where
  // without a NIC it is unreachable. Whether deb.debian.org then resolves depends on the
  // host's upstream DNS, which the test does not control (a CI run on a loaded host saw
  // resolved=0), so it is reported, not asserted.
  EXPECT_THAT(o.output_tail, HasSubstr("(10.0.2.2): Connection refused"));
  EXPECT_THAT(o.output_tail, HasSubstr("resolved="));
  RecordProperty("dns_with_network", o.output_tail.substr(o.output_tail.find("resolved=")));
}

TEST_F(MicroVmTest, TheAcceleratorProbeChoosesOneThatBoots) {
  const MicroVmExecutor::AcceleratorChoice choice = vm_->ChosenAccelerator();
  RecordProperty("accelerator", std::string(ToString(choice.accelerator)));
  RecordProperty("reason", choice.reason);
  EXPECT_FALSE(choice.reason.empty());
  const RunOutcome o = Run(Sh("true"));
  EXPECT_EQ(o.kind, OutcomeKind::kSucceeded) << o.error << o.output_tail;
  ASSERT_TRUE(o.vm);
  EXPECT_EQ(o.vm->accelerator, choice.accelerator);
}

}  // namespace
}  // namespace krond::exec
