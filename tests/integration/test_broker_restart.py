"""A broker restart loses nothing: runs fired while Kafka is down are delivered after it is
back, none skipped or doubled. Kills and restarts the shared test broker, so this module
holds the ctest resource lock `kafka-broker`."""
import collections
import datetime as dt
import subprocess
import time

from conftest import ROOT, wait_until


def ts(text):
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def kafka_local(*args):
    subprocess.run([str(ROOT / "scripts/kafka-local"), *args], check=True, timeout=180)


def test_broker_restart_loses_no_run(env):
    jobs = env.write_jobs("""
clusters: [c]
jobs:
  - name: tick
    schedule: "* * * * * *"
    cluster: c
    command: "true"
""")
    env.ensure_topics("c")
    worker = env.worker("c", "w")
    sched = env.scheduler(jobs)
    wait_until(lambda: len(env.read(env.topic("results"))) >= 3, 30, what="first results")
    kafka_local("kill-broker", "1")
    time.sleep(6)
    kafka_local("start-broker", "1")
    # The scheduler kept ticking while the broker was down; those runs arrive now.
    time.sleep(8)
    assert sched.alive() and worker.alive()
    sched.stop()
    tasks = env.read(env.topic("tasks", "c"))
    fires = collections.Counter(t["scheduled_at"] for t in tasks)
    dupes = [k for k, n in fires.items() if n > 1]
    assert not dupes, dupes
    seconds = sorted(ts(s) for s in fires)
    missing = [(a, b) for a, b in zip(seconds, seconds[1:]) if (b - a).total_seconds() != 1.0]
    assert not missing, missing
    assert (seconds[-1] - seconds[0]).total_seconds() >= 14
    # Every fired run is eventually executed exactly once.
    run_ids = {t["run_id"] for t in tasks}
    results = wait_until(lambda: (lambda rs: rs if {r["run_id"] for r in rs} >= run_ids else None)(
        env.read(env.topic("results"))), 60, what="results for every run")
    counts = collections.Counter(r["run_id"] for r in results)
    print(f"fired {len(tasks)} runs across the restart; results {len(results)}")
    assert set(counts) == run_ids
    assert all(n == 1 for n in counts.values()), [k for k, n in counts.items() if n > 1]
    assert "kafka" in sched.log()  # the outage was reported in the log
