// The floor under a burst's lateness on this machine: what the least a worker can do gets.
// At every second boundary one producer (krond's settings) produces --burst N messages;
// --consumers C threads, each with its own consumer in one group (krond's settings), poll
// them and, unless --shells 0, hand each to a warm shell running `true` (krond's
// WarmShellPool, the way a krond worker starts a run). Lateness is from the boundary to the
// hand-over (to the Poll() return with --shells 0). No JSON, metrics, results, commits or
// supervision: krond's own lateness minus this is what krond adds on top of the machine.
// With --ahead-ms A the bursts are produced A ms before their boundary and each consumer
// holds them and hands them all at the boundary (a sleep to 2 ms before it, then a spin),
// as a krond worker does with runs dispatched ahead: what is left is the machine starting
// the burst's shells. With --release all as well, each held message is handed to its shell
// when it arrives, with a script that first blocks reading a pipe of the burst's; at the
// boundary the consumer closes that pipe's write end, which releases every shell of the
// burst at once (a design sketch: one system call at the instant instead of one per run).
// With shells, every run's end (its `true` done: the shell's pidfd readable, stamped by a
// thread of its own) is measured too: the hand-over stamp says when a run was let go, the end
// when it had run, whichever way it was let go.
// scripts/bench burst-floor runs it; docs/benchmarks.md has the numbers.
//
//   burst_floor --brokers B --topic T [--burst N] [--consumers C] [--seconds S]
//               [--shells 1|0] [--ahead-ms A] [--release each|all] [--kafka-setting k=v ...]
#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bench/probe_util.h"
#include "exec/warm_shell_pool.h"
#include "kafka/kafka.h"

namespace {

using krond::bench::Micros;
using SystemTime = std::chrono::system_clock::time_point;

constexpr const char* kTool = "burst_floor";
constexpr const char* kUsage =
    "burst_floor --brokers B --topic T [--burst N] [--consumers C] [--seconds S] "
    "[--shells 1|0] [--ahead-ms A] [--release each|all] [--kafka-setting k=v ...]";
// Bursts before this one are left out: the group and the shell pools are still settling.
constexpr int kFirstMeasured = 2;

struct Options : krond::bench::CommonFlags {
  int burst = 100;
  int consumers = 2;
  int seconds = 30;
  int shells = 1;    // 0: poll only
  int ahead_ms = 0;  // >0: bursts are produced this long ahead and handed at the boundary
  std::string release = "each";  // the flag as given; Parse sets release_all from it
  bool release_all = false;      // held shells wait on one pipe, closed at the boundary
};

Options Parse(int argc, char** argv) {
  Options o;
  krond::bench::ParseFlags(argc, argv, kTool, kUsage, o,
                           {{"--burst", &o.burst},
                            {"--consumers", &o.consumers},
                            {"--seconds", &o.seconds},
                            {"--shells", &o.shells},
                            {"--ahead-ms", &o.ahead_ms},
                            {"--release", &o.release}});
  if (o.burst < 1 || o.consumers < 1 || o.seconds <= kFirstMeasured ||
      (o.shells != 0 && o.shells != 1) || o.ahead_ms < 0 || o.ahead_ms > 900 ||
      (o.release != "each" && o.release != "all") ||
      (o.release == "all" && (o.shells == 0 || o.ahead_ms == 0))) {
    krond::bench::Usage(kTool, kUsage,
                        "--burst and --consumers take a positive count, --seconds more than " +
                            std::to_string(kFirstMeasured) +
                            ", --shells 1 or 0, --ahead-ms 0 to 900, --release each or all "
                            "(all needs shells and --ahead-ms)");
  }
  o.release_all = o.release == "all";
  return o;
}

// Each consumer gets about burst/consumers messages of a burst (keys spread them over the
// partitions); a quarter more covers an uneven split. scripts/bench gives a krond worker
// 64 warm shells for a burst of 100 over two workers and 512 for 1,000: close, not equal.
std::size_t PoolSize(const Options& o) {
  return static_cast<std::size_t>((o.burst + o.consumers - 1) / o.consumers) * 5 / 4;
}

Micros Since(SystemTime t) {
  return std::chrono::duration_cast<Micros>(std::chrono::system_clock::now() - t);
}

// Stamps the end of each watched process (its pidfd turns readable) against its boundary, on
// a thread of its own that sleeps in epoll_wait otherwise.
class EndStamps {
 public:
  EndStamps() : epoll_(epoll_create1(EPOLL_CLOEXEC)) {
    if (epoll_ < 0) krond::bench::Die(kTool, "epoll_create1 failed");
    thread_ = std::thread([this] { Loop(); });
  }
  ~EndStamps() { Stop(); }
  // Watches a copy of `pidfd` (the caller keeps its own).
  void Watch(int pidfd, SystemTime boundary) {
    auto watched = std::make_unique<Watched>(Watched{fcntl(pidfd, F_DUPFD_CLOEXEC, 0), boundary});
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.ptr = watched.get();
    if (watched->fd < 0 || epoll_ctl(epoll_, EPOLL_CTL_ADD, watched->fd, &event) != 0) {
      krond::bench::Die(kTool, "cannot watch a shell's pidfd");
    }
    ++watching_;
    watched.release();  // the loop's, once the process ended
  }
  // Waits (at most 5 s) for every watched process to end, then ends the thread.
  void Stop() {
    if (!thread_.joinable()) return;
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (watching_ > 0 && std::chrono::steady_clock::now() < give_up) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    stop_ = true;
    thread_.join();
    close(epoll_);
  }
  const std::vector<Micros>& ended() const { return ended_; }

 private:
  struct Watched {
    int fd;
    SystemTime boundary;
  };
  void Loop() {
    epoll_event events[64];
    while (!stop_) {
      const int n = epoll_wait(epoll_, events, 64, 50);
      for (int i = 0; i < n; ++i) {
        const std::unique_ptr<Watched> watched(static_cast<Watched*>(events[i].data.ptr));
        ended_.push_back(Since(watched->boundary));
        epoll_ctl(epoll_, EPOLL_CTL_DEL, watched->fd, nullptr);
        close(watched->fd);
        --watching_;
      }
    }
  }
  const int epoll_;
  std::vector<Micros> ended_;  // the thread's until Stop() returns
  std::atomic<int> watching_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// One consumer thread: what it measured.
struct Samples {
  std::vector<Micros> each;       // boundary -> hand-over (or Poll()), every measured message
  std::vector<Micros> first;      // boundary -> Poll() of the first message of each burst
  int no_shell_ready = 0;         // messages that found the pool empty (not handed, not counted)
  std::atomic<bool> warm{false};  // a warm-up message came through
};

class ConsumerThread {
 public:
  ConsumerThread(const Options& o, std::unique_ptr<krond::kafka::Consumer> consumer)
      : started_(std::chrono::system_clock::now()),
        consumer_(std::move(consumer)),
        pool_(o.shells == 1 ? std::make_unique<krond::exec::WarmShellPool>(PoolSize(o)) : nullptr),
        ahead_(o.ahead_ms > 0),
        release_all_(o.release_all) {
    script_ = ScriptOf("true");
    thread_ = std::thread([this] { Loop(); });
  }
  ~ConsumerThread() { Stop(); }
  // Ends the thread (its handed shells reaped) and leaves the group; samples() are final.
  void Stop() {
    if (!thread_.joinable()) return;
    stop_ = true;
    thread_.join();
    consumer_->Close();
    ends_.Stop();
    CloseGo();
  }
  Samples& samples() { return samples_; }
  const std::vector<Micros>& ended() const { return ends_.ended(); }

 private:
  void Loop() {
    while (!stop_) {
      auto timeout = std::chrono::milliseconds(50);
      if (!held_.empty()) {
        timeout = std::clamp(
            std::chrono::duration_cast<std::chrono::milliseconds>(
                held_boundary_ - std::chrono::system_clock::now() - std::chrono::milliseconds(2)),
            std::chrono::milliseconds(0), timeout);
        if (timeout.count() == 0) {
          HandHeld();
          continue;
        }
      }
      auto polled = consumer_->Poll(timeout);
      if (!polled || !polled->has_value()) {
        Reap(WNOHANG);
        continue;
      }
      OnMessage((**polled).value);
    }
    Reap(0);
  }

  void OnMessage(const std::string& value) {
    // "<burst index, -1 for warm-up> <boundary or send time, ms since the epoch>"
    const int index = std::atoi(value.c_str());
    const SystemTime boundary{
        std::chrono::milliseconds(std::atoll(value.c_str() + value.find(' ') + 1))};
    if (boundary < started_ - std::chrono::seconds(1)) return;  // an earlier run's message
    if (index < 0) {
      samples_.warm = true;
      return;
    }
    const bool first = index != last_index_;
    last_index_ = index;
    if (index < kFirstMeasured) return;
    if (ahead_) {
      if (!held_.empty() && boundary != held_boundary_) HandHeld();
      if (release_all_ && held_.empty()) OpenGo();
      held_boundary_ = boundary;
      held_.push_back(value);
      if (release_all_) HandWaiting();
      return;
    }
    if (first) samples_.first.push_back(Since(boundary));
    Start(boundary);
  }

  // The burst held ahead: at its boundary (2 ms of spin, as krond's RealClock), all at once.
  void HandHeld() {
    const auto spin_from = held_boundary_ - std::chrono::milliseconds(2);
    if (std::chrono::system_clock::now() < spin_from) std::this_thread::sleep_until(spin_from);
    while (std::chrono::system_clock::now() < held_boundary_) {
    }
    samples_.first.push_back(Since(held_boundary_));
    if (release_all_) {
      // One close lets every shell of the burst go (they read end of file). Stamped before
      // it, as a hand-over is: the woken shells may take the core from this thread at once.
      const Micros released = Since(held_boundary_);
      close(go_write_);
      go_write_ = -1;
      for (auto& shell : waiting_) {
        samples_.each.push_back(released);
        ends_.Watch(shell.pidfd.Get(), held_boundary_);
        handed_.push_back(std::move(shell));
      }
      waiting_.clear();
    } else {
      for (std::size_t i = 0; i < held_.size(); ++i) Start(held_boundary_);
    }
    held_.clear();
  }

  // The script of a shell that runs `command`.
  static std::string ScriptOf(const std::string& command) {
    krond::exec::RunSpec spec;
    spec.argv = {"/bin/sh", "-c", command};
    return krond::exec::WarmShellPool::Script(spec);
  }
  // A new pipe for the next burst. The read end of the one before stays open until then: a
  // shell of that burst that has not opened it yet (a busy host) must still find that pipe,
  // not a new one under the same descriptor number.
  void OpenGo() {
    if (go_write_ >= 0) close(go_write_);
    if (previous_go_read_ >= 0) close(previous_go_read_);
    previous_go_read_ = go_read_;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) krond::bench::Die(kTool, "pipe2 failed");
    go_read_ = fds[0];
    go_write_ = fds[1];
    // Opening the read end through /proc gives the shell the pipe itself, and never blocks:
    // one that opens it after the write end closed reads end of file at once.
    go_script_ = ScriptOf("read _ </proc/" + std::to_string(getpid()) + "/fd/" +
                          std::to_string(go_read_) + "; true");
  }
  void CloseGo() {
    for (int* fd : {&previous_go_read_, &go_read_, &go_write_}) {
      if (*fd >= 0) close(*fd);
      *fd = -1;
    }
  }
  // --release all: the message just held goes to a shell now, which waits on the go pipe.
  void HandWaiting() {
    std::optional<krond::exec::WarmShellPool::Shell> shell = pool_->Take();
    if (!shell) {
      ++samples_.no_shell_ready;
      return;
    }
    if (auto ok = pool_->Hand(*shell, go_script_); !ok) {
      krond::bench::Die(kTool, ok.error().message);
    }
    waiting_.push_back(std::move(*shell));
  }

  void Start(SystemTime boundary) {
    if (pool_ == nullptr) {
      samples_.each.push_back(Since(boundary));
      return;
    }
    std::optional<krond::exec::WarmShellPool::Shell> shell = pool_->Take();
    if (!shell) {
      ++samples_.no_shell_ready;
      return;
    }
    samples_.each.push_back(Since(boundary));
    if (auto ok = pool_->Hand(*shell, script_); !ok) {
      krond::bench::Die(kTool, ok.error().message);
    }
    ends_.Watch(shell->pidfd.Get(), boundary);
    handed_.push_back(std::move(*shell));
  }

  // Waits for the shells that ran (flags 0: all of them).
  void Reap(int flags) {
    std::erase_if(handed_, [flags](const krond::exec::WarmShellPool::Shell& s) {
      return waitpid(s.pid, nullptr, flags) == s.pid;
    });
  }

  const SystemTime started_;
  std::unique_ptr<krond::kafka::Consumer> consumer_;
  std::unique_ptr<krond::exec::WarmShellPool> pool_;
  std::string script_;
  std::vector<krond::exec::WarmShellPool::Shell> handed_;
  EndStamps ends_;
  const bool ahead_;
  const bool release_all_;
  int previous_go_read_ = -1;
  int go_read_ = -1;
  int go_write_ = -1;
  std::string go_script_;  // the script of the shells waiting on the go pipe
  std::vector<krond::exec::WarmShellPool::Shell> waiting_;  // handed, waiting on the go pipe
  std::vector<std::string> held_;                           // the burst held until held_boundary_
  SystemTime held_boundary_{};
  Samples samples_;
  int last_index_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

int Run(const Options& o) {
  spdlog::set_level(spdlog::level::err);  // stdout is the report
  auto producer = krond::bench::ProbeProducer(kTool, o);
  std::vector<std::unique_ptr<ConsumerThread>> consumers;
  for (int i = 0; i < o.consumers; ++i) {
    consumers.push_back(std::make_unique<ConsumerThread>(
        o, krond::bench::ProbeConsumer(kTool, o,
                                       o.topic + ".burst-floor." + std::to_string(getpid()))));
  }
  uint64_t key = 0;
  auto ms_since_epoch = [](SystemTime t) {
    return std::to_string(
        std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count());
  };
  auto send = [&](const std::string& value) {
    if (auto ok = producer->Produce(o.topic, std::to_string(key++), value, [](const auto&) {});
        !ok) {
      krond::bench::Die(kTool, ok.error().message);
    }
  };
  // Measure only once every consumer has its partitions and has seen a message.
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  auto all_warm = [&] {
    for (auto& c : consumers) {
      if (!c->samples().warm) return false;
    }
    return true;
  };
  while (!all_warm()) {
    if (std::chrono::steady_clock::now() > give_up) {
      krond::bench::Die(kTool, "not every consumer got a message within 60 s");
    }
    for (int i = 0; i < o.consumers; ++i) {
      send("-1 " + ms_since_epoch(std::chrono::system_clock::now()));
    }
    producer->Poll(std::chrono::milliseconds(100));
  }

  using std::chrono::milliseconds;
  auto boundary = std::chrono::ceil<std::chrono::seconds>(std::chrono::system_clock::now()) +
                  std::chrono::seconds(1);
  for (int index = 0; index < o.seconds; ++index, boundary += std::chrono::seconds(1)) {
    // Serve delivery reports until just before the boundary, then sleep to it.
    while (std::chrono::system_clock::now() < boundary - milliseconds(20)) {
      producer->Poll(milliseconds(10));
    }
    std::this_thread::sleep_until(boundary - milliseconds(o.ahead_ms));
    const std::string value = std::to_string(index) + " " + ms_since_epoch(boundary);
    for (int i = 0; i < o.burst; ++i) send(value);
    producer->Poll(milliseconds(0));
  }
  if (auto ok = producer->Flush(std::chrono::seconds(10)); !ok) {
    krond::bench::Die(kTool, "flush: " + ok.error().message);
  }
  // The last burst's consumption (and its boundary when it was sent ahead).
  std::this_thread::sleep_for(std::chrono::seconds(1) + std::chrono::milliseconds(o.ahead_ms));

  std::vector<Micros> each;
  std::vector<Micros> first;
  std::vector<Micros> ended;
  int no_shell_ready = 0;
  for (auto& c : consumers) {
    c->Stop();
    Samples& s = c->samples();
    ended.insert(ended.end(), c->ended().begin(), c->ended().end());
    each.insert(each.end(), s.each.begin(), s.each.end());
    first.insert(first.end(), s.first.begin(), s.first.end());
    no_shell_ready += s.no_shell_ready;
  }
  const size_t expected = static_cast<size_t>(o.seconds - kFirstMeasured) * o.burst;
  std::printf(
      "burst floor: %d messages at each second boundary for %d s, %d consumer(s), %s, "
      "krond's client settings%s%s\n",
      o.burst, o.seconds, o.consumers,
      o.shells == 1 ? "each handed to a warm shell running `true`" : "no shells",
      o.ahead_ms > 0 ? (o.release_all ? ", sent ahead, handed to shells waiting on a pipe "
                                        "closed at the boundary"
                                      : ", sent ahead and held to the boundary")
                     : "",
      o.overrides.empty() ? "" : " plus --kafka-setting overrides");
  krond::bench::PrintPercentiles(o.ahead_ms > 0 ? "boundary -> held burst released"
                                                : "boundary -> first message of the burst polled",
                                 first);
  krond::bench::PrintPercentiles(o.shells == 1
                                     ? (o.release_all ? "boundary -> pipe closed (each shell)"
                                                      : "boundary -> hand-over to a warm shell")
                                     : "boundary -> message polled",
                                 each);
  if (o.shells == 1) {
    krond::bench::PrintPercentiles("boundary -> shell ended (`true` ran)", ended);
    if (ended.size() != each.size()) {
      krond::bench::Die(kTool, std::to_string(each.size()) + " shells let go, " +
                                   std::to_string(ended.size()) + " ended within 5 s");
    }
  }
  if (each.size() + no_shell_ready != expected) {
    krond::bench::Die(kTool, "expected " + std::to_string(expected) + " measured messages, got " +
                                 std::to_string(each.size() + no_shell_ready));
  }
  if (no_shell_ready > 0) {
    std::printf("  %d message(s) found no warm shell ready and are not counted\n", no_shell_ready);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return Run(Parse(argc, argv)); }
