"""The scheduler -> Kafka -> worker pipeline on a real broker (issue: Parts 1 and 2)."""
import collections
import datetime as dt
import re
import signal
import time

from conftest import dead_letter_raw, wait_until
from krond_testlib import owned_partitions

# env: from defaults, and one job's own over it (docs/jobfile.md), travels in the task.
JOBS = """
clusters: [cluster-a, cluster-b]
defaults:
  env: {REGION: eu}
jobs:
  - name: every-second-a
    schedule: "* * * * * *"
    cluster: cluster-a
    command: echo "a $KROND_RUN_ID $REGION"
    env: {REGION: us}
  - name: every-second-b
    schedule: "* * * * * *"
    cluster: cluster-b
    command: echo "b $KROND_RUN_ID $REGION"
"""
REGION = {"cluster-a": "us", "cluster-b": "eu"}


def ts(text):
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def results_by_job(env):
    by_job = collections.defaultdict(list)
    for r in env.read(env.topic("results")):
        by_job[r.get("job")].append(r)
    return by_job


def test_runs_fire_on_the_second_exactly_once_and_stay_in_their_cluster(env):
    jobs = env.write_jobs(JOBS)
    env.ensure_topics("cluster-a", "cluster-b")
    # Two workers per cluster share its 2-partition topic; started before the scheduler.
    wa = [env.worker("cluster-a", f"wa{i}", "--slots", "2") for i in range(2)]
    wb = [env.worker("cluster-b", f"wb{i}", "--slots", "2") for i in range(2)]
    # Fires start once each group is settled (one partition per worker): a run finished while
    # its partition is lost in a rebalance (the commit fails) is run again by the next owner,
    # at-least-once as documented (docs/execution.md), which is not what this test is about.
    for pair in (wa, wb):
        wait_until(lambda: all(len(owned_partitions(w.log())) == 1 for w in pair), 60,
                   what="one partition per worker")
    sched = env.scheduler(jobs)
    wait_until(lambda: len(env.read(env.topic("results"))) >= 30, 60, what="30 results")
    sched.stop()
    # Let the workers finish what was fired.
    time.sleep(3)
    tasks = env.read(env.topic("tasks", "cluster-a")) + env.read(env.topic("tasks", "cluster-b"))
    results = env.read(env.topic("results"))

    # Every fire is on a whole second, once per (job, second).
    fires = collections.Counter((t["job"], t["scheduled_at"]) for t in tasks)
    assert all(n == 1 for n in fires.values()), [k for k, n in fires.items() if n > 1]
    for t in tasks:
        assert ts(t["scheduled_at"]).microsecond == 0, t
        # Fired at the right second: produced within it.
        assert (ts(t["produced_at"]) - ts(t["scheduled_at"])).total_seconds() < 1.0, t
        assert t["v"] == 1 and t["attempt"] == 1
        assert t["env"] == {"REGION": REGION[t["cluster"]]}, t
    # Consecutive fires of a job are one second apart: none skipped.
    for job in ("every-second-a", "every-second-b"):
        seconds = sorted(ts(s) for (j, s) in fires if j == job)
        gaps = {(b - a).total_seconds() for a, b in zip(seconds, seconds[1:])}
        assert gaps == {1.0}, (job, gaps)

    # Every run ran exactly once, on its own cluster, soon after its second.
    runs = collections.Counter(r["run_id"] for r in results)
    assert all(n == 1 for n in runs.values())
    assert set(runs) == {t["run_id"] for t in tasks}
    for r in results:
        assert r["outcome"] == "succeeded", r
        assert r["cluster"] == ("cluster-a" if r["job"].endswith("-a") else "cluster-b")
        assert r["output_tail"].strip() == \
            f"{r['cluster'][-1]} {r['run_id']} {REGION[r['cluster']]}"
        # Started soon after: bounded loosely, since the group may still be rebalancing
        # while the four workers join (latency itself is measured in scripts/bench).
        assert (ts(r["started_at"]) - ts(r["scheduled_at"])).total_seconds() < 5.0, r

    # Every run of a job ran on one worker, the owner of the partition its name routes it to
    # (docs/messages.md, "Partitions"), and workers serve their own cluster only.
    for job in ("every-second-a", "every-second-b"):
        owners = {r["worker"] for r in results if r["job"] == job}
        assert len(owners) == 1, (job, owners)
    workers_a = {r["worker"] for r in results if r["cluster"] == "cluster-a"}
    workers_b = {r["worker"] for r in results if r["cluster"] == "cluster-b"}
    assert not workers_a & workers_b
    for w in wa + wb:
        assert w.alive()


def test_worker_started_before_topics_exist_picks_up_runs(env):
    jobs = env.write_jobs("""
clusters: [late]
jobs:
  - name: tick
    schedule: "* * * * * *"
    cluster: late
    command: "true"
""")
    # The worker creates its topics itself if it can; delete nothing, just start it first.
    env.worker("late", "w")
    time.sleep(2)
    env.scheduler(jobs)
    wait_until(lambda: len(env.read(env.topic("results"))) >= 3, 30, what="3 results")


def test_bad_messages_do_not_stop_a_worker(env):
    env.ensure_topics("c")
    env.worker("c", "w")
    topic = env.topic("tasks", "c")
    env.produce_raw(topic, "k1", "this is not json")
    env.produce_raw(topic, "k2", '{"v":1,"run_id":"r2","job":"j"}')
    env.produce_raw(topic, "k3", '{"v":99}')
    jobs = env.write_jobs("""
clusters: [c]
jobs:
  - name: good
    schedule: "* * * * * *"
    cluster: c
    command: echo good
""")
    env.scheduler(jobs)
    wait_until(lambda: any(r.get("job") == "good" and r["outcome"] == "succeeded"
                           for r in env.read(env.topic("results"))), 30, what="a good run")
    results = env.read(env.topic("results"))
    invalid = [r for r in results if r["outcome"] == "invalid"]
    assert len(invalid) == 3, invalid
    assert {r["run_id"] for r in invalid} == {"k1", "k2", "k3"}
    assert any("not valid JSON" in r["error"] for r in invalid)
    assert any('field "cluster": missing' in r["error"] for r in invalid)
    assert any("version 99" in r["error"] for r in invalid)
    dead = env.read(env.topic("dead", "c"))
    assert len(dead) == 3 and {dead_letter_raw(d) for d in dead} >= {"this is not json"}


def test_killed_worker_run_is_redelivered(env):
    jobs = env.write_jobs("""
clusters: [c]
jobs:
  - name: slow
    schedule: "0 0 1 1 *"
    cluster: c
    command: "true"
""")
    env.ensure_topics("c")
    victim = env.worker("c", "victim", "--partitions", "1")
    wait_until(lambda: "assigned" in victim.log(), 30, what="victim assignment")
    # One slow run, sent straight to the topic (the job file's schedule is far away).
    run = {"v": 1, "run_id": "slow-run-1", "job": "slow", "cluster": "c",
           "command": "sleep 3; echo finished", "scheduled_at": "2026-01-01T00:00:00.000Z",
           "attempt": 1, "max_attempts": 1, "timeout_ms": 60000}
    import json
    env.produce_raw(env.topic("tasks", "c"), "slow-run-1", json.dumps(run))
    wait_until(lambda: "start slow run slow-run-1" in victim.log(), 30, what="victim start")
    victim.kill()
    survivor = env.worker("c", "survivor")
    results = wait_until(lambda: [r for r in env.read(env.topic("results"))
                                  if r["run_id"] == "slow-run-1"], 60, what="redelivered run")
    assert len(results) == 1
    assert results[0]["outcome"] == "succeeded"
    assert results[0]["output_tail"].strip() == "finished"
    assert "start slow run slow-run-1" in survivor.log()
    del jobs


def test_a_bad_reload_is_rejected_and_the_old_jobs_keep_firing(env):
    jobs = env.write_jobs(JOBS)
    env.ensure_topics("cluster-a", "cluster-b")
    sched = env.scheduler(jobs)
    tasks_b = env.topic("tasks", "cluster-b")
    wait_until(lambda: len(env.read(tasks_b)) >= 2, 30, what="the first fires")

    # An unknown cluster: the whole file is rejected, with its position, and nothing changes.
    jobs.write_text(JOBS.replace("cluster: cluster-b", "cluster: nowhere"))
    sched.popen.send_signal(signal.SIGHUP)
    wait_until(lambda: "reload of" in sched.log(), 30, what="the reload to be rejected")
    log = sched.log()
    assert re.search(r"reload of \S+ rejected: 1 problem\(s\); still running the previous 2 job",
                     log), log
    line = JOBS.split("\n").index("    cluster: cluster-b") + 1
    assert re.search(rf"jobs\.yaml:{line}:\d+: .*nowhere", log), log
    before = len(env.read(tasks_b))
    wait_until(lambda: len(env.read(tasks_b)) >= before + 2, 30,
               what="the old job of cluster-b to keep firing")

    # A good file takes effect: the job of cluster-b is gone, a new one fires.
    jobs.write_text(JOBS.replace("every-second-b", "every-second-b2"))
    sched.popen.send_signal(signal.SIGHUP)
    wait_until(lambda: any(t["job"] == "every-second-b2" for t in env.read(tasks_b)), 30,
               what="the reloaded job to fire")
    sched.stop()
    assert sched.popen.returncode == 0, sched.log()
