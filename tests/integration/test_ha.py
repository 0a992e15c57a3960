"""High availability and exactly-once firing (issue 7, docs/architecture.md): several
`krond scheduler --ha` replicas, one active by consumer-group leadership; the task topics are
read read_committed and every expected (job, scheduled_at) must appear exactly once."""
import collections
import datetime as dt
import os
import re
import time

from conftest import wait_until

ACTIVE = re.compile(r"scheduler active: took over in (\d+) ms")


def ts(text):
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def by_job(tasks):
    out = collections.defaultdict(list)
    for t in tasks:
        out[t["job"]].append(ts(t["scheduled_at"]))
    return {job: sorted(times) for job, times in out.items()}


def duplicates(times):
    return sorted(t for t, n in collections.Counter(times).items() if n > 1)


def gaps(times):
    """Holes in a per-second sequence: (before, after) pairs more than 1 s apart."""
    return [(a, b) for a, b in zip(times, times[1:]) if (b - a).total_seconds() != 1.0]


def is_active(proc):
    return ACTIVE.search(proc.log()) is not None


def currently_active(proc):
    log = proc.log()
    return log.rfind("scheduler active:") > log.rfind("scheduler standby:")


def fired_lines(proc):
    return len(re.findall(r"\bfired \S+ run ", proc.log()))


def wait_results(env, run_ids, timeout=90):
    def done():
        results = env.read(env.topic("results"))
        return results if {r["run_id"] for r in results} >= run_ids else None
    return wait_until(done, timeout, what="a result for every fired run")


def test_failover_fires_every_run_exactly_once(env):
    jobs = env.write_jobs("""
clusters: [c]
jobs:
  - name: tick
    schedule: "* * * * * *"
    cluster: c
    command: "true"
    catch_up: all
""")
    env.ensure_topics("c")
    env.worker("c", "worker")
    replicas = [env.scheduler(jobs, "sched-a", "--ha"), env.scheduler(jobs, "sched-b", "--ha")]
    first = wait_until(lambda: next((p for p in replicas if is_active(p)), None), 60,
                       what="one active scheduler")
    standby = next(p for p in replicas if p is not first)
    wait_until(lambda: len(env.read(env.topic("tasks", "c"))) >= 5, 30, what="first fires")
    assert not is_active(standby) and fired_lines(standby) == 0, "two active schedulers"

    failovers = []
    for round_ in range(int(os.environ.get("KROND_HA_KILLS", "2"))):
        killed_at = time.monotonic()
        first.kill()
        wait_until(lambda: is_active(standby), 30, interval=0.05, what="standby takeover")
        failovers.append(time.monotonic() - killed_at)
        # The killed one comes back as the new standby.
        first, standby = standby, env.scheduler(jobs, f"sched-{round_}-restarted", "--ha")
        wait_until(lambda: len(env.read(env.topic("tasks", "c"))) >= 8 * (round_ + 2), 40,
                   what="fires after takeover")
    time.sleep(2)
    for p in env.procs:
        if p.name.startswith("sched"):
            p.stop()
    tasks = env.read(env.topic("tasks", "c"))
    times = by_job(tasks)["tick"]
    print(f"expected {int((times[-1] - times[0]).total_seconds()) + 1} fired {len(times)} "
          f"duplicates {len(duplicates(times))} missing {len(gaps(times))} "
          f"failover seconds {[round(f, 2) for f in failovers]}")
    assert not duplicates(times), duplicates(times)
    assert not gaps(times), gaps(times)
    assert all(f < 10 for f in failovers), failovers
    results = wait_results(env, {t["run_id"] for t in tasks})
    assert {r["run_id"] for r in results} >= {t["run_id"] for t in tasks}


def test_catch_up_policies_after_an_outage(env):
    jobs_yaml = "clusters: [c]\njobs:\n" + "".join(f"""
  - name: {policy}
    schedule: "* * * * * *"
    cluster: c
    command: "true"
    catch_up: {policy}
""" for policy in ("none", "last", "all"))
    jobs = env.write_jobs(jobs_yaml)
    env.ensure_topics("c")
    sched = env.scheduler(jobs, "sched-1", "--ha")
    wait_until(lambda: is_active(sched), 60, what="active scheduler")
    wait_until(lambda: len(env.read(env.topic("tasks", "c"))) >= 9, 30, what="first fires")
    sched.kill()
    time.sleep(8)  # every scheduler down: about 8 fires of each job are missed
    sched = env.scheduler(jobs, "sched-2", "--ha")
    wait_until(lambda: is_active(sched), 60, what="active scheduler after the outage")
    time.sleep(3)
    sched.stop()
    fires = by_job(env.read(env.topic("tasks", "c")))
    for job, times in fires.items():
        assert not duplicates(times), (job, duplicates(times))
    assert not gaps(fires["all"]), gaps(fires["all"])
    none_gaps = gaps(fires["none"])
    assert len(none_gaps) == 1 and (none_gaps[0][1] - none_gaps[0][0]).total_seconds() >= 5, \
        none_gaps
    # `last` fires what `none` fires, plus the latest missed fire, one second before `none`
    # resumes.
    resumed = none_gaps[0][1]
    assert set(fires["last"]) == set(fires["none"]) | {resumed - dt.timedelta(seconds=1)}
    assert set(fires["all"]) >= set(fires["last"])
    print(f"outage {none_gaps[0][0]} .. {resumed}: none fired {len(fires['none'])}, "
          f"last {len(fires['last'])}, all {len(fires['all'])}")


def test_chaos_on_three_brokers(tmp_path, monkeypatch):
    """Seeded chaos on a 3-node KRaft cluster of its own (RF 3, min ISR 2): repeatedly
    SIGKILL the active scheduler, a worker and a broker; at the end every expected
    (job, scheduled_at) is in the task topic exactly once (read_committed) and every run has
    a result. KROND_CHAOS_SEED and KROND_CHAOS_SECONDS (default 120) tune it."""
    import random
    import subprocess

    from conftest import ROOT, Env

    seed = int(os.environ.get("KROND_CHAOS_SEED", "7"))
    duration = float(os.environ.get("KROND_CHAOS_SECONDS", "120"))
    rng = random.Random(seed)
    monkeypatch.setenv("KROND_KAFKA_DIR", str(tmp_path / "kafka"))

    def kafka_local(*args):
        subprocess.run([str(ROOT / "scripts/kafka-local"), *args], check=True, timeout=300,
                       capture_output=True)

    kafka_local("up", "--brokers", "3")
    env = None
    try:
        env = Env(tmp_path)
        rf = ["--replication-factor", "3"]
        jobs = env.write_jobs("clusters: [c]\njobs:\n" + "".join(f"""
  - name: job{i}
    schedule: "* * * * * *"
    cluster: c
    command: "true"
    catch_up: all
""" for i in range(3)))
        subprocess.run([os.environ.get("KROND_BIN", str(ROOT / "build/krond")), "topics",
                        "ensure", *env.kafka_args(), *rf, "--cluster", "c"], check=True,
                       capture_output=True, timeout=120)
        workers = [env.worker("c", f"worker-{i}", *rf) for i in range(2)]
        scheds = [env.scheduler(jobs, f"sched-{i}", "--ha", *rf) for i in range(2)]
        wait_until(lambda: any(is_active(p) for p in scheds), 90, what="an active scheduler")
        failovers, actions, broker_down = [], collections.Counter(), None
        started = time.monotonic()
        n = 0
        while time.monotonic() - started < duration:
            time.sleep(rng.uniform(6, 12))
            if broker_down is not None:
                kafka_local("start-broker", str(broker_down))
                broker_down = None
            action = rng.choice(["scheduler", "worker", "broker"])
            actions[action] += 1
            n += 1
            if action == "scheduler":
                live = [p for p in scheds if p.alive()]
                active = next((p for p in live if currently_active(p)), None)
                if active is None:
                    continue
                standby = [p for p in live if p is not active]
                killed_at = time.monotonic()
                active.kill()
                scheds = standby + [env.scheduler(jobs, f"sched-r{n}", "--ha", *rf)]
                before = {id(p): len(ACTIVE.findall(p.log())) for p in scheds}
                wait_until(lambda: any(len(ACTIVE.findall(p.log())) > before[id(p)]
                                       for p in scheds), 60, interval=0.05,
                           what="takeover after killing the active scheduler")
                failovers.append(round(time.monotonic() - killed_at, 2))
            elif action == "worker":
                victim = rng.choice(workers)
                victim.kill()
                workers = [w for w in workers if w is not victim] + \
                    [env.worker("c", f"worker-r{n}", *rf)]
            else:
                broker_down = rng.randint(1, 3)
                kafka_local("kill-broker", str(broker_down))
        if broker_down is not None:
            kafka_local("start-broker", str(broker_down))
        time.sleep(8)
        for p in scheds:
            p.stop()
        tasks = env.read(env.topic("tasks", "c"))
        fires = by_job(tasks)
        expected = fired = dups = missing = 0
        for job, times in sorted(fires.items()):
            expected += int((times[-1] - times[0]).total_seconds()) + 1
            fired += len(times)
            dups += len(duplicates(times))
            missing += sum(int((b - a).total_seconds()) - 1 for a, b in gaps(times))
        run_ids = {t["run_id"] for t in tasks}
        results = wait_results(env, run_ids, timeout=120)
        without = run_ids - {r["run_id"] for r in results}
        print(f"chaos seed {seed} {duration:.0f}s actions {dict(actions)}: expected {expected} "
              f"fired {fired} duplicates {dups} missing {missing} runs without result "
              f"{len(without)} failover seconds {failovers}")
        assert len(fires) == 3
        assert dups == 0 and missing == 0
        assert not without
    finally:
        if env is not None:
            env.close()
        kafka_local("down")
