"""Runs dispatched ahead of their instant (issue 20), on a real broker: the scheduler sends
each run `--dispatch-ahead` before its scheduled_at, the worker holds it and starts it on the
instant; a killed worker's held runs are redelivered and started once each; a job paused
after its runs were sent does not start them (docs/execution.md, "Runs that arrive early")."""
import collections
import datetime as dt
import json
import signal
import time

from conftest import wait_until
from krond_testlib import owned_partitions

JOBS = """
clusters: [c]
jobs:
  - name: tick
    schedule: "* * * * * *"
    cluster: c
    command: "true"
"""


def ms(text):
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000


def results_by_run(env):
    by_run = collections.defaultdict(list)
    for r in env.read(env.topic("results")):
        by_run[r["run_id"]].append(r)
    return by_run


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def test_runs_sent_ahead_start_on_their_instant_once(env):
    jobs = env.write_jobs(JOBS)
    env.ensure_topics("c")
    worker = env.worker("c", "worker", "--slots", "2")
    wait_until(lambda: len(owned_partitions(worker.log())) >= 1, 60, what="partitions assigned")
    sched = env.scheduler(jobs, "scheduler", "--dispatch-ahead", "2s")
    wait_until(lambda: len(env.read(env.topic("results"))) >= 20, 90, what="20 results")
    sched.stop()
    time.sleep(4)  # the runs sent ahead start on their instants
    tasks = env.read(env.topic("tasks", "c"))
    by_run = results_by_run(env)

    # Sent ahead: produced about 2 s before the instant (never after it, while on time).
    ahead = [ms(t["scheduled_at"]) - ms(t["produced_at"]) for t in tasks]
    assert percentile(ahead, 50) > 1000, sorted(ahead)
    # Each run once, and never before its instant (the worker's clock is the broker's here).
    assert set(by_run) == {t["run_id"] for t in tasks}
    assert all(len(rs) == 1 for rs in by_run.values())
    late = [ms(rs[0]["started_at"]) - ms(rs[0]["scheduled_at"]) for rs in by_run.values()]
    print(f"lateness ms: p50 {percentile(late, 50):.0f}, p90 {percentile(late, 90):.0f}, "
          f"max {max(late):.0f} over {len(late)} runs")
    assert min(late) >= 0, sorted(late)
    # On a loaded 2-core CI machine still well under the old broker round trip after the
    # instant; docs/benchmarks.md has the measured distribution.
    assert percentile(late, 50) <= 50, sorted(late)
    assert all(r["outcome"] == "succeeded" for rs in by_run.values() for r in rs)


def test_a_killed_workers_held_runs_are_started_once_by_the_next_owner(env):
    jobs = env.write_jobs(JOBS)
    env.ensure_topics("c")
    first = env.worker("c", "first")
    wait_until(lambda: len(owned_partitions(first.log())) >= 1, 60, what="first assigned")
    second = env.worker("c", "second")
    wait_until(lambda: owned_partitions(first.log()) and owned_partitions(second.log()), 60,
               what="both workers assigned")
    sched = env.scheduler(jobs, "scheduler", "--dispatch-ahead", "10s")
    # Every run of `tick` goes to one partition: wait until its owner holds runs ahead.
    wait_until(lambda: "start tick run" in first.log() + second.log(), 60, what="tick runs")
    owner, other = (first, second) if "start tick run" in first.log() else (second, first)
    time.sleep(3)
    killed_at = time.time() * 1000
    owner.kill()
    wait_until(lambda: len(owned_partitions(other.log())) == 2, 60,
               what="the survivor owns both partitions")
    taken_at = time.time() * 1000
    time.sleep(12)  # past every run the dead worker held
    sched.stop()
    time.sleep(3)
    tasks = [t for t in env.read(env.topic("tasks", "c")) if t["job"] == "tick"]
    by_run = results_by_run(env)
    held = [t for t in tasks
            if ms(t["produced_at"]) < killed_at - 500 and ms(t["scheduled_at"]) > killed_at + 500]
    assert len(held) >= 5, "the killed worker held runs sent up to 10 s ahead"
    late_after_kill = []
    for t in held:
        rs = by_run.get(t["run_id"], [])
        assert len(rs) == 1, (t["run_id"], rs)  # started once, by the survivor
        assert rs[0]["worker"] != "" and rs[0]["outcome"] == "succeeded", rs
        late_after_kill.append(ms(rs[0]["started_at"]) - ms(rs[0]["scheduled_at"]))
    assert min(late_after_kill) >= 0
    # None later than the time the partition took to move (plus a second of slack).
    rebalance = taken_at - killed_at
    print(f"rebalance {rebalance:.0f} ms; held runs late at most {max(late_after_kill):.0f} ms")
    assert max(late_after_kill) <= rebalance + 1000, (rebalance, sorted(late_after_kill))
    # Every run sent ran exactly once or, started by the dead worker, at most twice.
    assert all(1 <= len(by_run.get(t["run_id"], [])) <= 2 for t in tasks
               if ms(t["scheduled_at"]) < time.time() * 1000 - 5000)


def test_a_job_paused_after_its_runs_were_sent_does_not_start_them(env):
    jobs = env.write_jobs(JOBS)
    env.ensure_topics("c")
    worker = env.worker("c", "worker")
    wait_until(lambda: len(owned_partitions(worker.log())) >= 1, 60, what="partitions assigned")
    sched = env.scheduler(jobs, "scheduler", "--dispatch-ahead", "10s")
    wait_until(lambda: "start tick run" in worker.log(), 60, what="tick runs")
    time.sleep(2)
    paused_at = time.time() * 1000
    now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00",
                                                                                     "Z")
    env.produce_raw(env.topic("control"), "tick", json.dumps(
        {"v": 1, "job": "tick", "paused": True, "by": "it", "at": now, "reason": "test"}))
    time.sleep(14)  # past every run sent before the pause
    sched.stop()
    by_run = results_by_run(env)
    after = [rs[0] for rs in by_run.values() if ms(rs[0]["scheduled_at"]) > paused_at + 1500]
    cancelled = [r for r in after if r["outcome"] == "skipped" and "paused" in r["error"]]
    assert len(cancelled) >= 5, "runs sent up to 10 s ahead were held when the job was paused"
    assert all(r["outcome"] == "skipped" for r in after), [r for r in after
                                                          if r["outcome"] != "skipped"]
    assert "cancelled before its scheduled time: job paused" in worker.log()
