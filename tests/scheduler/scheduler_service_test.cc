#include "scheduler/scheduler_service.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "fakes/fake_kafka.h"
#include "fakes/simulated_clock.h"
#include "messages/catalog.h"
#include "messages/run_messages.h"
#include "messages/scheduler_records.h"
#include "messages/signed_task.h"
#include "metrics/registry.h"
#include "scheduler/test_jobs.h"

namespace krond::scheduler {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;
using ::testing::SizeIs;
using Kind = kafka::TxnErrorKind;
using messages::SkipReason;

const SystemTime kT0 = test_support::Time("2026-03-08T00:00:00Z");

}  // namespace
}  // namespace krond::scheduler

namespace std::chrono {
// Instants in failure messages as offsets from kT0, e.g. "+3.000s".
inline void PrintTo(const krond::SystemTime& t, std::ostream* os) {
  *os << "+" << std::chrono::duration<double>(t - krond::scheduler::kT0).count() << "s";
}
}  // namespace std::chrono

namespace krond::scheduler {
namespace {

std::string EverySecond(std::string_view catch_up = "last") {
  return "clusters: [alpha, beta]\njobs:\n  - name: a\n    schedule: \"* * * * * *\"\n"
         "    cluster: alpha\n    command: run a\n    catch_up: " +
         std::string(catch_up) + "\n";
}

// One scheduler replica: its service, lease follower, metrics and producers.
struct Replica {
  std::string owner;
  metrics::Registry registry;
  std::unique_ptr<SchedulerMetrics> metrics;
  std::unique_ptr<testing::FakePartitionFollower> follower;
  std::vector<testing::FakeTransactionalProducer*> producers;
  std::unique_ptr<SchedulerService> service;

  SchedulerService* operator->() { return service.get(); }
  testing::FakeTransactionalProducer& producer() { return *producers.back(); }
  std::string Metrics() const { return registry.Render(); }
};

class SchedulerServiceTest : public ::testing::Test {
 protected:
  SchedulerServiceTest() { spdlog::set_level(spdlog::level::off); }

  // Pauses (or resumes) job "a" in pauses_, as a record of the control topic would.
  void Control(bool paused) {
    ASSERT_TRUE(pauses_.Apply(
        {"t.control", 0, control_offset_++, "a",
         messages::Encode(messages::ControlRecord{"a", paused, "olga", clock_.Now(), "db"})}));
  }

  Replica& Start(const std::string& owner, std::string_view yaml,
                 ServiceOptions options = ServiceOptions()) {
    auto r = std::make_unique<Replica>();
    r->owner = owner;
    r->metrics = std::make_unique<SchedulerMetrics>(r->registry);
    r->follower = std::make_unique<testing::FakePartitionFollower>(log_, "t.leader", 16);
    Replica* raw = r.get();
    auto factory = [this, raw]() -> Result<std::unique_ptr<kafka::TransactionalProducer>> {
      auto p = std::make_unique<testing::FakeTransactionalProducer>(log_);
      p->AdvanceClockOnTimeout(&clock_);
      raw->producers.push_back(p.get());
      return std::unique_ptr<kafka::TransactionalProducer>(std::move(p));
    };
    auto reader = [this](const std::function<bool(const kafka::ConsumedMessage&)>& cb) -> Status {
      for (const auto& m : log_.Topic("t.state")) {
        if (!cb({m.topic, 0, 0, m.key, m.value})) return MakeError("stopped");
      }
      return {};
    };
    options.owner = owner;
    options.seed = std::hash<std::string>()(owner);
    r->service = std::make_unique<SchedulerService>(clock_, factory, reader, *r->follower,
                                                    *r->metrics, messages::TopicNames("t"),
                                                    test_support::MustParse(yaml), options);
    replicas_.push_back(std::move(r));
    return *raw;
  }

  // Moves the clock to `t` and steps `r` there, as the real loop does.
  SystemTime StepAt(Replica& r, SystemTime t) {
    clock_.Set(t);
    return r->Step(t);
  }
  // Steps the given replicas every 100 ms from now, and at `until`.
  // A call that blocks (a fake's timeout) moves the clock on: time never goes back.
  void Run(std::initializer_list<Replica*> replicas, SystemTime until) {
    for (SystemTime t = clock_.Now(); t < until;
         t = std::max(t + milliseconds(100), clock_.Now())) {
      for (Replica* r : replicas) StepAt(*r, std::max(t, clock_.Now()));
    }
    for (Replica* r : replicas) StepAt(*r, std::max(until, clock_.Now()));
  }
  // Starts `owner` on an empty lease topic and steps it until it is active.
  Replica& StartActive(const std::string& owner, std::string_view yaml,
                       ServiceOptions options = ServiceOptions()) {
    Replica& r = Start(owner, yaml, options);
    for (int i = 0; i < 20 && !r->active(); ++i) StepAt(r, clock_.Now() + milliseconds(i ? 50 : 0));
    EXPECT_TRUE(r->active()) << owner << " never took over";
    return r;
  }

  // Every committed record of `topic` decoded by `decode` (one that does not decode fails the
  // test), after `check` has seen it with its record (e.g. to check the key).
  template <typename T, typename Check>
  std::vector<T> Decoded(std::string_view topic, Result<T> (*decode)(std::string_view),
                         Check check) const {
    std::vector<T> out;
    for (const auto& m : log_.Topic(topic)) {
      auto decoded = decode(m.value);
      EXPECT_TRUE(decoded.has_value()) << m.value;
      if (!decoded) continue;
      check(m, *decoded);
      out.push_back(*std::move(decoded));
    }
    return out;
  }
  template <typename T>
  std::vector<T> Decoded(std::string_view topic, Result<T> (*decode)(std::string_view)) const {
    return Decoded(topic, decode, [](const auto&, const auto&) {});
  }
  std::vector<messages::TaskMessage> Tasks(std::string_view topic = "t.tasks.alpha") const {
    return Decoded(topic, &messages::DecodeTask, [](const auto& m, const auto& task) {
      EXPECT_EQ(m.key, task.run_id) << "tasks are keyed by run id";
    });
  }
  std::vector<SystemTime> Fired(std::string_view job = "a") const {
    std::vector<SystemTime> out;
    for (const auto& t : Tasks()) {
      if (t.job == job) out.push_back(t.scheduled_at);
    }
    return out;
  }
  std::map<std::string, messages::FireState> State() const {
    std::map<std::string, messages::FireState> out;
    for (auto& s : Decoded("t.state", &messages::DecodeFireState)) out[s.job] = s;
    return out;
  }
  std::vector<messages::LeaseRecord> Leases() const {
    return Decoded("t.leader", &messages::DecodeLeaseRecord,
                   [](const auto& m, const auto&) { EXPECT_EQ(m.key, messages::kLeaseKey); });
  }
  std::vector<messages::SkipRecord> Skips() const {
    return Decoded("t.skips", &messages::DecodeSkipRecord);
  }
  static std::vector<SystemTime> Seconds(int from, int to) {
    std::vector<SystemTime> out;
    for (int i = from; i <= to; ++i) out.push_back(kT0 + seconds(i));
    return out;
  }

  testing::SimulatedClock clock_{kT0};
  PauseSet pauses_;
  int64_t control_offset_ = 0;
  testing::FakeTxnLog log_;
  std::vector<std::unique_ptr<Replica>> replicas_;
};

// ---- One replica --------------------------------------------------------------------------

TEST_F(SchedulerServiceTest, OneReplicaTakesOverAtOnceAndFiresInTransactions) {
  Replica& a = StartActive("a", EverySecond());
  EXPECT_THAT(a.Metrics(), HasSubstr("krond_scheduler_active 1\n"));
  for (int i = 1; i <= 3; ++i) StepAt(a, kT0 + seconds(i));
  EXPECT_EQ(Fired(), Seconds(1, 3));
  std::vector<messages::TaskMessage> tasks = Tasks();
  for (size_t i = 0; i < tasks.size(); ++i) {
    EXPECT_EQ(tasks[i].fence, static_cast<int64_t>(i + 1)) << "fences count fires";
    EXPECT_EQ(tasks[i].command, "run a");
    EXPECT_EQ(tasks[i].attempt, 1);
  }
  EXPECT_EQ(State()["a"].last_fired, kT0 + seconds(3));
  EXPECT_EQ(State()["a"].fence, 3);
  // The claim, then one heartbeat in each fire transaction.
  EXPECT_THAT(Leases(), SizeIs(4));
  for (const auto& lease : Leases()) {
    EXPECT_EQ(lease.owner, "a");
    EXPECT_FALSE(lease.resigned);
  }
  EXPECT_EQ(a.producer().commits(), 4);
  EXPECT_EQ(a->fired(), 3u);
  EXPECT_THAT(a.Metrics(),
              HasSubstr("krond_scheduler_runs_fired_total{job=\"a\",cluster=\"alpha\"} 3\n"));
}

TEST_F(SchedulerServiceTest, WithASigningKeyEveryFireIsASignedTask) {
  ServiceOptions options;
  const signing::PrivateKey key = *signing::GenerateKey();
  options.signer = messages::TaskSigner(key);
  Replica& a = StartActive("a", EverySecond(), options);
  for (int i = 1; i <= 2; ++i) StepAt(a, kT0 + seconds(i));
  const auto& fires = log_.Topic("t.tasks.alpha");
  ASSERT_THAT(fires, SizeIs(2));
  for (const auto& m : fires) {
    auto opened = messages::OpenTask(m.value, {key.public_key});
    ASSERT_TRUE(opened) << opened.error().message;
    EXPECT_EQ(m.key, opened->task.run_id);
    EXPECT_EQ(opened->task.command, "run a");
    EXPECT_FALSE(opened->envelope->attempt) << "a first attempt has no outside fields";
  }
}

TEST_F(SchedulerServiceTest, AnIdleActiveSchedulerKeepsItsLeaseAndAStandbyStandsBy) {
  const std::string yearly =
      "clusters: [alpha]\njobs:\n  - name: y\n    schedule: \"0 0 0 1 1 *\"\n"
      "    cluster: alpha\n    command: y\n";
  Replica& a = StartActive("a", yearly);
  Replica& b = Start("b", yearly);
  Run({&a, &b}, kT0 + seconds(10));
  EXPECT_TRUE(a->active());
  EXPECT_FALSE(b->active());
  // The standby has its producer ready (topics looked up), but never fences while
  // heartbeats flow.
  ASSERT_THAT(b.producers, SizeIs(1));
  EXPECT_FALSE(b.producer().initialized());
  EXPECT_THAT(b.producer().warmed(),
              ::testing::UnorderedElementsAre("t.leader", "t.state", "t.skips", "t.tasks.alpha"));
  // A heartbeat every 500 ms over 10 s, plus the claim.
  EXPECT_THAT(Leases().size(), ::testing::AllOf(::testing::Ge(20u), ::testing::Le(21u)));
  EXPECT_THAT(b.Metrics(), HasSubstr("krond_scheduler_active 0\n"));
}

TEST_F(SchedulerServiceTest, AFailedCommitResendsTheSameRunsAndStateMovesOnlyOnCommit) {
  ServiceOptions options;
  options.txn_call_timeout = milliseconds(200);
  Replica& a = StartActive("a", EverySecond(), options);
  a.producer().FailNextCommits({Kind::kAbortable, Kind::kRetriable});
  StepAt(a, kT0 + seconds(1));  // commit fails: abortable
  EXPECT_TRUE(Fired().empty());
  StepAt(a, kT0 + milliseconds(1100));  // aborted; resent after the retry delay
  StepAt(a, kT0 + seconds(2));          // +1 and +2 in one transaction: the commit times out
  EXPECT_TRUE(Fired().empty());
  EXPECT_EQ(State().count("a"), 0u) << "state must not advance past an uncommitted fire";
  StepAt(a, clock_.Now());  // the same commit again: succeeds
  EXPECT_EQ(Fired(), Seconds(1, 2));
  EXPECT_EQ(a.producer().aborts(), 1);
  EXPECT_EQ(a->pending(), 0u);
  std::vector<messages::TaskMessage> tasks = Tasks();
  EXPECT_EQ(tasks[0].fence, 1) << "a resent run keeps its fence";
  EXPECT_THAT(a.Metrics(), HasSubstr("krond_scheduler_transaction_aborts_total 1\n"));
}

TEST_F(SchedulerServiceTest, AnOutageDelaysFiresButLosesNoneWhileNobodyTakesOver) {
  Replica& a = StartActive("a", EverySecond("none"));
  // Kafka is unreachable for 10 commit attempts (20 s): the lease lapses, but no standby can
  // take over, so the scheduler keeps its runs and fires them when Kafka is back.
  a.producer().FailNextCommits(std::deque<Kind>(10, Kind::kRetriable));
  Run({&a}, kT0 + seconds(19));
  EXPECT_TRUE(Fired().empty());
  EXPECT_TRUE(a->active());
  EXPECT_THAT(a.Metrics(), HasSubstr("krond_scheduler_active 1\n"));
  Run({&a}, kT0 + seconds(23));
  const std::vector<SystemTime> fired = Fired();
  ASSERT_FALSE(fired.empty());
  EXPECT_EQ(fired.back(), kT0 + seconds(23));
  EXPECT_EQ(fired, Seconds(1, static_cast<int>((fired.back() - kT0) / seconds(1))))
      << "late, none skipped though catch_up is none";
}

TEST_F(SchedulerServiceTest, SkipsWhatCatchUpNoneMissedAndRecordsIt) {
  // Every 10 s, catch_up none: fired at +10, then nobody fires until +35.
  const std::string yaml =
      "clusters: [alpha]\njobs:\n  - name: a\n    schedule: \"*/10 * * * * *\"\n"
      "    cluster: alpha\n    command: a\n    catch_up: none\n";
  Replica& a = StartActive("a", yaml);
  Run({&a}, kT0 + seconds(10));
  Replica& b = Start("b", yaml);
  StepAt(b, kT0 + seconds(11));  // reads a's heartbeats: stands by
  Run({&b}, kT0 + seconds(35));  // a is frozen: b takes over at about +13.5 ... nothing owed
  ASSERT_TRUE(b->active());
  EXPECT_EQ(Fired(),
            std::vector<SystemTime>({kT0 + seconds(10), kT0 + seconds(20), kT0 + seconds(30)}))
      << "the gap (+10.5..+13.5) held no fire";
  // Now all are down from +35 (b freezes) to +55 (c starts), and c waits out b's lease:
  // +40 and +50 are missed and skipped.
  Replica& c = Start("c", yaml);
  StepAt(c, kT0 + seconds(55));
  Run({&c}, kT0 + milliseconds(58500));
  ASSERT_TRUE(c->active());
  std::vector<messages::SkipRecord> skips = Skips();
  ASSERT_THAT(skips, SizeIs(1));
  EXPECT_EQ(skips[0].job, "a");
  EXPECT_EQ(skips[0].reason, SkipReason::kCatchUp);
  EXPECT_EQ(skips[0].first, kT0 + seconds(40));
  EXPECT_EQ(skips[0].last, kT0 + seconds(50));
  EXPECT_EQ(skips[0].count, 2);
  EXPECT_EQ(State()["a"].last_fired, kT0 + seconds(50)) << "skipped instants are decided";
  EXPECT_THAT(c.Metrics(),
              HasSubstr("krond_scheduler_fires_skipped_total{job=\"a\",reason=\"catch_up\"} 2\n"));
  // The next takeover (a hand-over) owes nothing and records nothing again.
  Replica& d = Start("d", yaml);
  StepAt(d, kT0 + seconds(59));
  EXPECT_EQ(c->Stop(seconds(5)).uncommitted, 0u);
  Run({&d}, kT0 + milliseconds(59900));
  ASSERT_TRUE(d->active());
  EXPECT_THAT(Skips(), SizeIs(1));
  EXPECT_EQ(Fired().back(), kT0 + seconds(30));
}

TEST_F(SchedulerServiceTest, PausedFiresAreSkippedAndNeitherResumeNorTakeoverFiresThem) {
  Replica& a = StartActive("a", EverySecond("all"));
  a->set_pauses(&pauses_);
  Run({&a}, kT0 + milliseconds(3500));
  Control(true);
  Run({&a}, kT0 + milliseconds(6500));
  Control(false);
  Run({&a}, kT0 + milliseconds(8500));
  std::vector<SystemTime> fired = Fired();
  for (int paused = 4; paused <= 6; ++paused) {
    EXPECT_EQ(std::count(fired.begin(), fired.end(), kT0 + seconds(paused)), 0) << paused;
  }
  EXPECT_EQ(std::vector<SystemTime>(fired.end() - 2, fired.end()), Seconds(7, 8))
      << "a resume fires from the next instant on, and nothing it skipped";
  EXPECT_THAT(a.Metrics(),
              HasSubstr("krond_scheduler_fires_skipped_total{job=\"a\",reason=\"paused\"} 3\n"));
  int64_t recorded = 0;
  for (const auto& skip : Skips()) {
    EXPECT_EQ(skip.reason, SkipReason::kPaused);
    EXPECT_GE(skip.first, kT0 + seconds(4));
    EXPECT_LE(skip.last, kT0 + seconds(6));
    recorded += skip.count;
  }
  EXPECT_EQ(recorded, 3) << "every paused instant is in the skips topic, for the audit";

  // Paused again, a freezes at +8.5; b (catch_up: all) takes over with +9.. missed: they are
  // paused catch-up runs, skipped too. The state said +8 was decided, so nothing before.
  Control(true);
  Replica& b = Start("b", EverySecond("all"));
  b->set_pauses(&pauses_);
  Run({&b}, kT0 + milliseconds(12500));
  ASSERT_TRUE(b->active());
  Control(false);
  Run({&b}, kT0 + milliseconds(14500));
  fired = Fired();
  for (int paused = 9; paused <= 12; ++paused) {
    EXPECT_EQ(std::count(fired.begin(), fired.end(), kT0 + seconds(paused)), 0) << paused;
  }
  EXPECT_EQ(std::vector<SystemTime>(fired.end() - 2, fired.end()), Seconds(13, 14));
  EXPECT_GE(State()["a"].last_fired, kT0 + seconds(14));
  EXPECT_THAT(b.Metrics(), HasSubstr("reason=\"paused\"} 4\n")) << "+9..+12";
}

// ---- Dispatch ahead ------------------------------------------------------------------------

std::string EveryTenSeconds(std::string_view catch_up = "all") {
  return "clusters: [alpha]\njobs:\n  - name: a\n    schedule: \"*/10 * * * * *\"\n"
         "    cluster: alpha\n    command: a\n    catch_up: " +
         std::string(catch_up) + "\n";
}

ServiceOptions Ahead(milliseconds ahead) {
  ServiceOptions options;
  options.dispatch_ahead = ahead;
  return options;
}

TEST_F(SchedulerServiceTest, ARunIsPublishedItsDispatchAheadBeforeItsInstantAndUnchanged) {
  Replica& a = StartActive("a", EveryTenSeconds(), Ahead(seconds(2)));
  Run({&a}, kT0 + milliseconds(7999));
  EXPECT_TRUE(Fired().empty());
  EXPECT_THAT(
      a.Metrics(),
      HasSubstr("krond_scheduler_next_fire_timestamp_seconds " +
                std::to_string((kT0 + seconds(8)).time_since_epoch().count() / 1000) + "\n"))
      << "the next dispatch, not the next instant";
  Run({&a}, kT0 + seconds(8));
  ASSERT_EQ(Fired(), std::vector<SystemTime>({kT0 + seconds(10)}));
  EXPECT_EQ(State()["a"].last_fired, kT0 + seconds(10)) << "the state records what was sent";
  Run({&a}, kT0 + seconds(18));
  EXPECT_EQ(Fired(), std::vector<SystemTime>({kT0 + seconds(10), kT0 + seconds(20)}));
}

TEST_F(SchedulerServiceTest, FireLagIsMeasuredFromTheDispatchTime) {
  Replica& a = StartActive("a", EveryTenSeconds(), Ahead(seconds(2)));
  // Due for dispatch at +8, sent at +9.5: 1.5 s late, although 0.5 s before its instant.
  StepAt(a, kT0 + milliseconds(9500));
  ASSERT_EQ(Fired(), std::vector<SystemTime>({kT0 + seconds(10)}));
  EXPECT_THAT(a.Metrics(),
              HasSubstr("krond_scheduler_fire_lag_seconds_sum{cluster=\"alpha\"} 1.5\n"));
}

TEST_F(SchedulerServiceTest, ATakeoverDoesNotFireAgainARunDispatchedAhead) {
  // a publishes +10 at +5 and freezes; b takes over before +10 and owes nothing for it.
  Replica& a = StartActive("a", EveryTenSeconds("all"), Ahead(seconds(5)));
  Replica& b = Start("b", EveryTenSeconds("all"), Ahead(seconds(5)));
  Run({&a, &b}, kT0 + milliseconds(5500));
  ASSERT_EQ(Fired(), std::vector<SystemTime>({kT0 + seconds(10)}));
  Run({&b}, kT0 + milliseconds(9900));
  ASSERT_TRUE(b->active()) << "took over before +10";
  Run({&b}, kT0 + milliseconds(24900));
  EXPECT_EQ(Fired(), std::vector<SystemTime>({kT0 + seconds(10), kT0 + seconds(20)}))
      << "each instant once, +20 at +15";
  Run({&b}, kT0 + seconds(25));
  // A clean hand-over from b to c (after +30 was published at +25) does not repeat it either.
  Replica& c = Start("c", EveryTenSeconds("all"), Ahead(seconds(5)));
  StepAt(c, kT0 + seconds(26));
  clock_.Set(kT0 + seconds(27));
  EXPECT_EQ(b->Stop(seconds(5)).uncommitted, 0u);
  Run({&c}, kT0 + seconds(35));
  ASSERT_TRUE(c->active());
  EXPECT_EQ(Fired(), std::vector<SystemTime>({kT0 + seconds(10), kT0 + seconds(20),
                                              kT0 + seconds(30), kT0 + seconds(40)}));
}

TEST_F(SchedulerServiceTest, AJobRemovedAndAddedAgainBeforeItsDispatchedRunDoesNotDoubleIt) {
  // +10 is published at +8; "a" leaves the job file at +8.5 and comes back at +9. The worker
  // holds the published +10 until its instant: publishing it again would run it twice.
  Replica& r = StartActive("r", EveryTenSeconds(), Ahead(seconds(2)));
  Run({&r}, kT0 + milliseconds(8500));
  ASSERT_EQ(Fired(), std::vector<SystemTime>({kT0 + seconds(10)}));
  r->Replace(test_support::MustParse("clusters: [alpha]\njobs:\n  - name: other\n"
                                     "    schedule: \"0 0 * * *\"\n    cluster: alpha\n"
                                     "    command: o\n"),
             kT0 + milliseconds(8500));
  Run({&r}, kT0 + seconds(9));
  r->Replace(test_support::MustParse(EveryTenSeconds()), kT0 + seconds(9));
  Run({&r}, kT0 + seconds(18));
  EXPECT_EQ(Fired(), std::vector<SystemTime>({kT0 + seconds(10), kT0 + seconds(20)}))
      << "each instant once";
  EXPECT_EQ(State()["a"].last_fired, kT0 + seconds(20));
}

TEST_F(SchedulerServiceTest, AJobAddedBackAfterATakeoverDoesNotFireARunDispatchedBeforeIt) {
  // a publishes +10 at +5 and freezes. b runs a job file without "a" (reloaded before a's),
  // takes over before +10, and gets "a" back before +10: the worker holds the published +10.
  const std::string without_a =
      "clusters: [alpha]\njobs:\n  - name: other\n    schedule: \"0 0 * * *\"\n"
      "    cluster: alpha\n    command: o\n";
  Replica& a = StartActive("a", EveryTenSeconds("all"), Ahead(seconds(5)));
  Replica& b = Start("b", without_a, Ahead(seconds(5)));
  Run({&a, &b}, kT0 + milliseconds(5500));
  ASSERT_EQ(Fired(), std::vector<SystemTime>({kT0 + seconds(10)}));
  Run({&b}, kT0 + milliseconds(9500));
  ASSERT_TRUE(b->active()) << "took over before +10";
  b->Replace(test_support::MustParse(EveryTenSeconds("all")), kT0 + milliseconds(9500));
  Run({&b}, kT0 + seconds(18));
  EXPECT_EQ(Fired(), std::vector<SystemTime>({kT0 + seconds(10), kT0 + seconds(20)}))
      << "each instant once";
}

TEST_F(SchedulerServiceTest, APausedJobIsCheckedAtDispatchTime) {
  Replica& a = StartActive("a", EveryTenSeconds(), Ahead(seconds(2)));
  a->set_pauses(&pauses_);
  Run({&a}, kT0 + seconds(7));
  Control(true);
  Run({&a}, kT0 + seconds(9));  // +10 was due for dispatch at +8, paused then
  Control(false);
  Run({&a}, kT0 + seconds(18));
  EXPECT_EQ(Fired(), std::vector<SystemTime>({kT0 + seconds(20)}))
      << "resumed before +10's instant, but its dispatch was decided at +8";
  ASSERT_THAT(Skips(), SizeIs(1));
  EXPECT_EQ(Skips()[0].reason, SkipReason::kPaused);
  EXPECT_EQ(Skips()[0].first, kT0 + seconds(10));
}

// ---- Several replicas ---------------------------------------------------------------------

TEST_F(SchedulerServiceTest, AStandbyTakesOverAFrozenLeaderWhichIsFencedWhenItWakes) {
  Replica& a = StartActive("a", EverySecond("all"));
  Replica& b = Start("b", EverySecond("all"));
  Run({&a, &b}, kT0 + seconds(5));
  EXPECT_FALSE(b->active());
  // `a` freezes (SIGSTOP): only `b` runs. It takes over within the lease timeout plus the
  // jitter after a's last heartbeat, fences `a` and fires the gap (catch_up: all).
  Run({&b}, kT0 + seconds(7) + milliseconds(900));
  EXPECT_TRUE(b->active());
  Run({&b}, kT0 + seconds(10));
  // `a` wakes up: it reads b's heartbeat after its own and stands down without committing.
  const size_t committed = log_.committed.size();
  StepAt(a, kT0 + seconds(10) + milliseconds(50));
  EXPECT_FALSE(a->active());
  EXPECT_EQ(log_.committed.size(), committed);
  EXPECT_THAT(a.Metrics(), HasSubstr("krond_scheduler_fenced_total 1\n"));
  Run({&a, &b}, kT0 + seconds(12));
  EXPECT_EQ(Fired(), Seconds(1, 12)) << "every second exactly once";
  // Fences grow across the takeover: b continues from the state's greatest fence.
  std::vector<messages::TaskMessage> tasks = Tasks();
  for (size_t i = 1; i < tasks.size(); ++i) EXPECT_GT(tasks[i].fence, tasks[i - 1].fence);
}

TEST_F(SchedulerServiceTest, AZombieWhoseCommitIsFencedFiresNothing) {
  Replica& a = StartActive("a", EverySecond("all"));
  StepAt(a, kT0 + seconds(1));
  // Another replica fences `a` but `a` has not read the lease topic yet: its next commit
  // fails with ProducerFenced.
  testing::FakeTransactionalProducer other(log_);
  ASSERT_TRUE(other.InitTransactions(milliseconds(100)).has_value());
  StepAt(a, kT0 + seconds(2));
  EXPECT_FALSE(a->active());
  EXPECT_EQ(Fired(), Seconds(1, 1));
  EXPECT_THAT(a.Metrics(), HasSubstr("krond_scheduler_fenced_total 1\n"));
}

TEST_F(SchedulerServiceTest, AStartingReplicaWaitsOutALeaseItFindsHeld) {
  // The tail of the lease topic holds a live heartbeat of "old": wait a whole timeout.
  log_.committed.push_back(
      {"t.leader", "lease", messages::Encode(messages::LeaseRecord{"old", false, kT0}), ""});
  Replica& a = Start("a", EverySecond());
  Run({&a}, kT0 + milliseconds(2400));
  EXPECT_FALSE(a->active());
  Run({&a}, kT0 + milliseconds(3100));  // 2.5 s + at most 0.5 s of jitter
  EXPECT_TRUE(a->active());
}

TEST_F(SchedulerServiceTest, ACleanStopHandsOverAtOnceAndTheHandOverSkipsNothing) {
  Replica& a = StartActive("a", EverySecond("none"));
  Replica& b = Start("b", EverySecond("none"));
  Run({&a, &b}, kT0 + seconds(3));
  clock_.Set(kT0 + milliseconds(3300));
  StopReport report = a->Stop(seconds(5));
  EXPECT_TRUE(report.was_active);
  EXPECT_EQ(report.uncommitted, 0u);
  EXPECT_FALSE(a->active());
  EXPECT_TRUE(Leases().back().resigned);
  EXPECT_EQ(Leases().back().at, kT0 + milliseconds(3300));
  // b sees the resigned heartbeat and takes over within a fifth of the jitter, not after a
  // lease timeout; +4 fell due meanwhile and fires although catch_up is none.
  Run({&b}, kT0 + milliseconds(4200));
  EXPECT_TRUE(b->active());
  EXPECT_EQ(Fired(), Seconds(1, 4));
}

TEST_F(SchedulerServiceTest, StopWithTheBrokerDownGivesUpByItsDeadlineAndSaysWhatItLeft) {
  Replica& a = StartActive("a", EverySecond());
  a.producer().FailNextCommits(std::deque<Kind>(20, Kind::kRetriable));
  StepAt(a, kT0 + seconds(1));  // the commit of +1 times out
  const MonoTime stopping = clock_.MonoNow();
  StopReport report = a->Stop(seconds(5));
  EXPECT_LE(clock_.MonoNow() - stopping, seconds(5) + milliseconds(10));
  EXPECT_TRUE(report.was_active);
  EXPECT_EQ(report.committed, 0u);
  EXPECT_EQ(report.uncommitted, 1u);
  EXPECT_THAT(report.uncommitted_summary, HasSubstr("a 2026-03-08T00:00:01.000Z (1)"));
  EXPECT_FALSE(a->active());
  EXPECT_TRUE(Fired().empty());
}

TEST_F(SchedulerServiceTest, AStopFencedByASuccessorReportsTheRunsItOwes) {
  Replica& a = StartActive("a", EverySecond());
  a.producer().FailNextCommits({Kind::kRetriable});
  StepAt(a, kT0 + seconds(1));  // +1 is taken, its commit times out
  testing::FakeTransactionalProducer successor(log_);
  ASSERT_TRUE(successor.InitTransactions(milliseconds(100)).has_value());
  StopReport report = a->Stop(seconds(5));
  EXPECT_TRUE(report.was_active);
  EXPECT_TRUE(report.lost_lead);
  EXPECT_EQ(report.committed, 0u);
  EXPECT_GE(report.uncommitted, 1u);
  EXPECT_FALSE(a->active());
  EXPECT_TRUE(Fired().empty());
}

// ---- Records Kafka can never accept ------------------------------------------------------

constexpr char kTwoClusters[] = R"(clusters: [alpha, beta]
jobs:
  - name: a
    schedule: "* * * * * *"
    cluster: alpha
    command: run a
  - name: b
    schedule: "* * * * * *"
    cluster: beta
    command: run b
)";

TEST_F(SchedulerServiceTest, ARecordRefusedAtProduceIsTakenOutAndTheOthersFire) {
  Replica& r = StartActive("r", kTwoClusters);
  r.producer().FailProducesTo("t.tasks.beta", kafka::ProduceErrorKind::kTooLarge);
  StepAt(r, kT0 + seconds(1));
  StepAt(r, kT0 + seconds(2));
  EXPECT_EQ(Fired("a"), Seconds(1, 2));
  EXPECT_TRUE(Tasks("t.tasks.beta").empty());
  std::vector<messages::SkipRecord> skips = Skips();
  ASSERT_THAT(skips, SizeIs(2));
  EXPECT_EQ(skips[0].job, "b");
  EXPECT_EQ(skips[0].reason, SkipReason::kRejected);
  EXPECT_EQ(skips[0].first, kT0 + seconds(1));
  EXPECT_THAT(skips[0].detail, HasSubstr("too_large"));
  EXPECT_EQ(State()["b"].last_fired, kT0 + seconds(2)) << "a rejected fire is decided";
  EXPECT_THAT(r.Metrics(),
              HasSubstr("krond_scheduler_fires_rejected_total{reason=\"too_large\"} 2\n"));
  EXPECT_EQ(r.producer().aborts(), 0);
}

TEST_F(SchedulerServiceTest, ARecordRefusedOnDeliveryAbortsOnceAndIsLeftOutOfTheRetry) {
  Replica& r = StartActive("r", kTwoClusters);
  r.producer().FailDeliveriesTo("t.tasks.beta", kafka::ProduceErrorKind::kUnauthorized);
  StepAt(r, kT0 + seconds(1));  // the commit fails: b's task was refused
  EXPECT_TRUE(Tasks().empty());
  StepAt(r, kT0 + milliseconds(1100));  // abort
  StepAt(r, kT0 + milliseconds(1700));  // the same runs again, without b's
  EXPECT_EQ(Fired("a"), Seconds(1, 1));
  EXPECT_EQ(Tasks()[0].fence, 1) << "a's run is the one of the aborted transaction";
  ASSERT_THAT(Skips(), SizeIs(1));
  EXPECT_EQ(Skips()[0].job, "b");
  EXPECT_EQ(Skips()[0].reason, SkipReason::kRejected);
  EXPECT_THAT(r.Metrics(),
              HasSubstr("krond_scheduler_fires_rejected_total{reason=\"unauthorized\"} 1\n"));
}

// ---- Reloads and scale --------------------------------------------------------------------

TEST_F(SchedulerServiceTest, ReplaceMovesChangedJobsAndStopsRemovedOnes) {
  Replica& r = StartActive("r", R"(clusters: [alpha, beta]
jobs:
  - name: keep
    schedule: "*/10 * * * * *"
    cluster: alpha
    command: k
  - name: gone
    schedule: "*/10 * * * * *"
    cluster: alpha
    command: g
)");
  Run({&r}, kT0 + seconds(10));
  ASSERT_THAT(Tasks(), SizeIs(2));
  // At 00:00:15, "keep" moves to cluster beta (same schedule: keeps its 00:00:20 fire),
  // "gone" disappears and "new" fires every 5 s, strictly after now (00:00:20).
  clock_.Set(kT0 + seconds(15));
  r->Replace(test_support::MustParse(R"(clusters: [alpha, beta]
jobs:
  - name: keep
    schedule: "*/10 * * * * *"
    cluster: beta
    command: k2
  - name: new
    schedule: "*/5 * * * * *"
    cluster: alpha
    command: n
)"),
             kT0 + seconds(15));
  EXPECT_THAT(r->jobs(), SizeIs(2));
  EXPECT_THAT(r.Metrics(), HasSubstr("krond_scheduler_jobs 2\n"));
  Run({&r}, kT0 + seconds(20));
  std::vector<messages::TaskMessage> alpha = Tasks("t.tasks.alpha");
  std::vector<messages::TaskMessage> beta = Tasks("t.tasks.beta");
  ASSERT_THAT(alpha, SizeIs(3));
  EXPECT_EQ(alpha[2].job, "new");
  EXPECT_EQ(alpha[2].scheduled_at, kT0 + seconds(20));
  ASSERT_THAT(beta, SizeIs(1));
  EXPECT_EQ(beta[0].job, "keep");
  EXPECT_EQ(beta[0].command, "k2");
  EXPECT_EQ(beta[0].scheduled_at, kT0 + seconds(20));
}

// The end-to-end path (encode, transaction, commit, metrics) at scale; the 100,000-job case
// of the pure scheduler is in scheduler_test.cc.
TEST_F(SchedulerServiceTest, TwentyThousandJobsFireOncePerSecondInBoundedTransactions) {
  constexpr size_t kJobs = 20'000;
  std::string yaml = "clusters: [alpha]\njobs:\n";
  for (size_t i = 0; i < kJobs; ++i) {
    yaml += "  - {name: j" + std::to_string(i) +
            ", schedule: \"* * * * * *\", cluster: alpha, command: x}\n";
  }
  ServiceOptions options;
  options.max_fires_per_transaction = 8'000;
  Replica& r = Start("r", yaml, options);
  for (int i = 0; i < 20 && !r->active(); ++i) StepAt(r, kT0 + milliseconds(50 * i));
  ASSERT_TRUE(r->active());
  const int claims = r.producer().commits();
  for (int sec = 1; sec <= 2; ++sec) {
    clock_.Set(kT0 + seconds(sec));
    while (r->Step(kT0 + seconds(sec)) <= kT0 + seconds(sec)) {
    }
    EXPECT_EQ(log_.Topic("t.tasks.alpha").size(), kJobs * static_cast<size_t>(sec));
  }
  EXPECT_EQ(r.producer().commits() - claims, 6) << "3 transactions of at most 8,000 a second";
  EXPECT_EQ(r->fired(), kJobs * 2);
  std::set<std::string> ids;
  for (const auto& m : log_.Topic("t.tasks.alpha")) ids.insert(m.key);
  EXPECT_EQ(ids.size(), kJobs * 2) << "one run id per run";
  EXPECT_EQ(State().size(), kJobs);
}

// Every run of a job goes to one partition (its name is the partition key), so one worker
// at a time owns a job (docs/messages.md, "Partitions"); the key stays the run id. The
// scheduler's own records keep the default partitioner (one partition each).
TEST_F(SchedulerServiceTest, EveryRunOfAJobIsRoutedByItsJobName) {
  Replica& r = StartActive("r", R"(clusters: [alpha]
jobs:
  - {name: backup, schedule: "* * * * * *", cluster: alpha, command: "true"}
  - {name: report, schedule: "* * * * * *", cluster: alpha, command: "true"}
  - {name: cleanup, schedule: "* * * * * *", cluster: alpha, command: "true"}
)");
  for (int i = 1; i <= 3; ++i) StepAt(r, kT0 + seconds(i));
  const auto records = log_.Topic("t.tasks.alpha");
  ASSERT_THAT(records, SizeIs(9));
  std::map<std::string, int> per_job;
  for (const auto& m : records) {
    auto task = messages::DecodeTask(m.value);
    ASSERT_TRUE(task.has_value());
    EXPECT_EQ(m.partition_key, messages::PartitionKeyOf(*task));
    EXPECT_EQ(m.partition_key, task->job);
    EXPECT_EQ(m.key, task->run_id);
    ++per_job[task->job];
  }
  EXPECT_EQ(per_job, (std::map<std::string, int>{{"backup", 3}, {"cleanup", 3}, {"report", 3}}));
  for (const char* topic : {"t.state", "t.leader"}) {
    for (const auto& m : log_.Topic(topic)) EXPECT_EQ(m.partition_key, "") << topic;
  }
}

// A job's microVM size travels in its task; without one the worker's default applies.
TEST_F(SchedulerServiceTest, TheTaskCarriesTheJobsSandboxAndMicroVmSize) {
  Replica& r = StartActive("r", R"(clusters: [alpha]
jobs:
  - {name: vm, schedule: "* * * * * *", cluster: alpha, command: "true", sandbox: microvm,
     microvm: {memory: 512MiB, vcpus: 2}}
  - {name: plain, schedule: "* * * * * *", cluster: alpha, command: "true"}
)");
  StepAt(r, kT0 + seconds(1));
  std::map<std::string, messages::TaskMessage> by_job;
  for (const auto& t : Tasks()) by_job[t.job] = t;
  ASSERT_EQ(by_job.size(), 2u);
  EXPECT_EQ(by_job["vm"].sandbox, "microvm");
  ASSERT_TRUE(by_job["vm"].microvm.has_value());
  EXPECT_EQ(by_job["vm"].microvm->memory_mib, 512u);
  EXPECT_EQ(by_job["vm"].microvm->vcpus, 2u);
  EXPECT_EQ(by_job["plain"].sandbox, "none");
  EXPECT_FALSE(by_job["plain"].microvm.has_value());
}

}  // namespace
}  // namespace krond::scheduler
