"""Seeded chaos on a 3-node KRaft cluster of its own (RF 3, min ISR 2), with three scheduler
replicas started with identical flags (no HA flag exists any more): repeatedly SIGKILL the
active scheduler, a worker and a broker. At the end every expected (job, scheduled_at) is in
the task topic exactly once (read_committed), every run has a result, and `krond audit`
finds nothing to explain. KROND_CHAOS_SEED and KROND_CHAOS_SECONDS (default 90) tune it."""
import collections
import json
import os
import random
import subprocess
import time

from conftest import ROOT, Env, krond_bin, wait_until
from test_ha import ACTIVE, by_job, duplicates, gaps, the_active, wait_results


def test_chaos_on_three_brokers(tmp_path, monkeypatch):
    seed = int(os.environ.get("KROND_CHAOS_SEED", "7"))
    duration = float(os.environ.get("KROND_CHAOS_SECONDS", "90"))
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
        subprocess.run([krond_bin(), "topics", "ensure", *env.kafka_args(), *rf, "--cluster",
                        "c"], check=True, capture_output=True, timeout=120)
        workers = [env.worker("c", f"worker-{i}", *rf) for i in range(2)]
        scheds = [env.scheduler(jobs, f"sched-{i}", *rf) for i in range(3)]
        wait_until(lambda: the_active(scheds), 90, what="an active scheduler")
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
                active = the_active(scheds)
                if active is None:
                    continue
                standby = [p for p in scheds if p.alive() and p is not active]
                killed_at = time.monotonic()
                active.kill()
                before = {id(p): len(ACTIVE.findall(p.log())) for p in standby}
                wait_until(lambda: any(len(ACTIVE.findall(p.log())) > before[id(p)]
                                       for p in standby), 60, interval=0.05,
                           what="takeover after killing the active scheduler")
                failovers.append(round(time.monotonic() - killed_at, 2))
                scheds = standby + [env.scheduler(jobs, f"sched-r{n}", *rf)]
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
        # While the schedulers still fire: instants after they stop would be missing.
        out = subprocess.run([krond_bin(), "audit", "--jobs", str(jobs), "--since",
                              f"{int(duration) + 120}s", "--settle", "5s", "--output", "json",
                              *env.kafka_args()], capture_output=True, text=True, timeout=180)
        report = json.loads(out.stdout)
        unexplained = [f for f in report["findings"] if not f["explained"]]
        print(f"chaos seed {seed} {duration:.0f}s actions {dict(actions)}: expected {expected} "
              f"fired {fired} duplicates {dups} missing {missing} runs without result "
              f"{len(without)} failover seconds {failovers}; audit clean {report['clean']}, "
              f"findings {collections.Counter(f['problem'] for f in report['findings'])}")
        for p in scheds:
            p.stop()
        assert len(fires) == 3
        assert dups == 0 and missing == 0
        assert not without
        assert out.returncode == 0 and report["clean"], unexplained[:20]
    finally:
        if env is not None:
            env.close()
        kafka_local("down")
