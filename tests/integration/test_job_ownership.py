"""One worker owns a job at a time (issue 15, worker side), on a real broker:

- every run of a job goes to one partition, the one Kafka's own murmur2 partitioner gives its
  name, so `concurrency: forbid` holds across the cluster: two workers, a forbid job that
  runs longer than its period, a worker joining and a worker restarted mid-run, and never two
  executions of the job at once (timestamps the command writes to a shared file);
- a run whose worker dies mid-run is run again by the next owner of its partition even though
  its starting_deadline has passed, because the dead worker's last commit recorded that the
  run had started.
"""
import collections
import datetime as dt
import json
import os
import re
import subprocess
import time

from conftest import krond_bin, wait_until

CLUSTER = "c"
# Two jobs whose names Kafka's murmur2 puts on different partitions of two (1 and 0), so
# whichever partition a rebalance moves, a forbid job is running on it.
JOBS = ("exclusive-a", "exclusive-b")
# The command: records its start and end (also when stopped by SIGTERM) in a shared file,
# with the host clock, then runs 8 s, far longer than the job's 1 s period.
JOB_SCRIPT = """#!/bin/sh
log="$1"
echo "start $KROND_JOB $KROND_RUN_ID $(date +%s.%N)" >> "$log"
trap 'echo "end $KROND_JOB $KROND_RUN_ID $(date +%s.%N) term" >> "$log"; exit 143' TERM
sleep "$2" &
wait $!
echo "end $KROND_JOB $KROND_RUN_ID $(date +%s.%N) ok" >> "$log"
"""


def ensure_topics(env, partitions):
    subprocess.run([krond_bin(), "topics", "ensure", *env.kafka_args(), "--cluster", CLUSTER,
                    "--partitions", str(partitions)],
                   check=True, capture_output=True, text=True, timeout=60)


def results_by_run(env):
    by_run = collections.defaultdict(list)
    for r in env.read(env.topic("results")):
        by_run[r["run_id"]].append(r)
    return by_run


def executions(path):
    """(job, run_id, start, end) of every execution in the command's log, in start order;
    end is None for an execution that never recorded its end."""
    events = collections.defaultdict(list)
    for line in path.read_text().splitlines():
        kind, job, run_id, at, *_ = line.split()
        events[(job, run_id)].append((kind, float(at)))
    out = []
    for (job, run_id), evs in events.items():
        starts = [t for k, t in evs if k == "start"]
        ends = sorted(t for k, t in evs if k == "end")
        for i, start in enumerate(sorted(starts)):
            out.append((job, run_id, start, ends[i] if i < len(ends) else None))
    return sorted(out, key=lambda e: e[2])


def in_progress(path):
    """Jobs with an execution started and not ended, from the command's log."""
    return {job for job, _, _, end in executions(path) if end is None}


def running_on(worker):
    """Whether `worker` has a run going, from its log."""
    log = worker.log()
    return (len(re.findall(r"start exclusive-", log)) >
            len(re.findall(r"finish exclusive-|exclusive-\S+ run \S+ cancelled by", log)))


def murmur2_partition(env, key, partitions):
    """The partition Kafka's murmur2 partitioner (the Java client's default) gives `key`,
    asked of librdkafka's own implementation through kcat on a scratch topic."""
    scratch = f"scratch{partitions}"
    subprocess.run([krond_bin(), "topics", "ensure", *env.kafka_args(), "--cluster", scratch,
                    "--partitions", str(partitions)],
                   check=True, capture_output=True, text=True, timeout=60)
    topic = env.topic("tasks", scratch)
    out = subprocess.run(["kcat", "-P", "-b", env.brokers, "-t", topic, "-k", key,
                          "-X", "topic.partitioner=murmur2"],
                         input="x", text=True, capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr
    read = subprocess.run(["kcat", "-C", "-b", env.brokers, "-t", topic, "-o", "beginning",
                           "-e", "-q", "-f", "%k %p\n"],
                          capture_output=True, text=True, timeout=30)
    for line in read.stdout.splitlines():
        k, p = line.split()
        if k == key:
            return int(p)
    raise AssertionError(f"{key} not found in {topic}: {read.stdout!r} {read.stderr!r}")


def test_forbid_job_never_overlaps_across_rebalances_and_restarts(env, tmp_path):
    script = tmp_path / "job.sh"
    script.write_text(JOB_SCRIPT)
    runs = tmp_path / "runs.log"
    runs.touch()
    jobs = env.write_jobs("clusters: [c]\njobs:\n" + "".join(f"""
  - name: {job}
    schedule: "* * * * * *"
    cluster: c
    command: exec sh {script} {runs} 8
    concurrency: forbid
    starting_deadline: 3s
""" for job in JOBS))
    ensure_topics(env, 2)
    flags = ["--partitions", "2", "--slots", "2", "--drain-timeout", "2s", "--kill-grace", "2s"]
    w1 = env.worker(CLUSTER, "w1", *flags)
    wait_until(lambda: "assigned 2 partition(s)" in w1.log(), 30, what="w1 to own both partitions")
    sched = env.scheduler(jobs, "scheduler", "--partitions", "2")
    wait_until(lambda: in_progress(runs) == set(JOBS), 30, what="both jobs to run on w1")

    # A worker joins while both jobs run: one partition, and its running job, moves to it.
    w2 = env.worker(CLUSTER, "w2", *flags)
    wait_until(lambda: "start exclusive-" in w2.log(), 60, what="w2 to run a job")
    # The first worker is restarted (SIGTERM: drain 2 s, then cancel) while its job runs,
    # and its successor joins: the partitions move twice more.
    wait_until(lambda: running_on(w1), 30, what="a job running on w1")
    assert w1.stop() == 0, w1.log()
    w3 = env.worker(CLUSTER, "w3", *flags)
    wait_until(lambda: "start exclusive-" in w3.log(), 60, what="w3 to run a job")
    time.sleep(3)
    sched.stop()

    tasks = {t["run_id"]: t for t in env.read(env.topic("tasks", CLUSTER))}
    assert tasks

    def every_run_has_a_result():
        by_run = results_by_run(env)
        return all(run_id in by_run for run_id in tasks) and by_run
    by_run = wait_until(every_run_has_a_result, 90, interval=1,
                        what="a result for every fired run")
    for w in (w2, w3):
        assert w.stop() == 0, w.log()
    logs = w1.log() + w2.log() + w3.log()

    # Never two executions of a job at once, and every execution ended.
    timeline = executions(runs)
    for job in JOBS:
        spans = [(s, e, run_id) for j, run_id, s, e in timeline if j == job]
        assert spans, f"{job} never ran"
        for s, e, run_id in spans:
            assert e is not None, f"{job} run {run_id} started at {s} never ended"
        for (s1, e1, r1), (s2, e2, r2) in zip(spans, spans[1:]):
            assert s2 >= e1, f"{job}: run {r2} started at {s2} while run {r1} ran ({s1}-{e1})"

    # No run lost: each has a result, run or skipped (forbid, deadline). No run doubled
    # either, unless a worker lost its partitions (then nothing it did after its last
    # commit is known to the next owner: at least once). With librdkafka < 2.10 that can
    # happen in any rebalance (docs/architecture.md, "Rebalances").
    lost = re.findall(r"lost \d+ partition\(s\)", logs)
    for run_id, results in by_run.items():
        assert results[-1]["outcome"] in ("succeeded", "skipped"), results
        if not lost:
            assert len(results) == 1, results
    if not lost:
        ok_ends = re.findall(r"end \S+ (\S+) \S+ ok", runs.read_text())
        assert len(ok_ends) == len(set(ok_ends)), "a run completed twice"
    else:
        print(f"note: a worker lost its partitions ({len(lost)}x): at-least-once applied")

    # The rebalance and restart paths were taken: a revoke waited for a running job and cut
    # it short, the restart cut one short; each such run ran again on the next owner, past
    # its 3 s starting_deadline, and succeeded.
    assert re.search(r"1 partition\(s\) (revoked|lost): 1 run\(s\) still going", logs), logs
    assert "cancelled by shutdown; it will be redelivered" in w1.log()
    handed_over = set(re.findall(r"run (\S+) cancelled by (?:shutdown|a rebalance)", logs))
    assert handed_over
    for run_id in handed_over:
        assert by_run[run_id][-1]["outcome"] == "succeeded", by_run[run_id]
        assert len([e for e in timeline if e[1] == run_id]) >= 2
    assert "was started by the partition's previous owner" in logs

    # Every run of a job is on one partition: the one Kafka's murmur2 gives its name.
    partitions = collections.defaultdict(set)
    out = subprocess.run(["kcat", "-C", "-b", env.brokers, "-t", env.topic("tasks", CLUSTER),
                          "-o", "beginning", "-e", "-q", "-f", "%p %s\n"],
                         capture_output=True, text=True, timeout=60)
    for line in out.stdout.splitlines():
        p, value = line.split(" ", 1)
        partitions[json.loads(value)["job"]].add(int(p))
    for job in JOBS:
        assert partitions[job] == {murmur2_partition(env, job, 2)}, (job, partitions)


def running(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def test_started_run_redelivered_after_its_worker_died_runs_again_past_its_deadline(
        env, tmp_path):
    ensure_topics(env, 1)
    victim = env.worker(CLUSTER, "victim", "--partitions", "1")
    wait_until(lambda: "assigned 1 partition(s)" in victim.log(), 30, what="victim assignment")
    pid_file = tmp_path / "pid"
    # A long run (8 s) whose starting_deadline (2 s) passes long before a new owner can take
    # over from a dead worker (its session times out after 6 s).
    run_id = "long-" + os.urandom(4).hex()
    now = dt.datetime.now(dt.timezone.utc)
    task = {"v": 1, "run_id": run_id, "job": "long", "cluster": CLUSTER,
            "command": f"echo $$ > {pid_file}; sleep 8; echo finished",
            "scheduled_at": now.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "attempt": 1, "max_attempts": 1, "timeout_ms": 60000, "starting_deadline_ms": 2000}
    env.produce_raw(env.topic("tasks", CLUSTER), run_id, json.dumps(task))
    wait_until(lambda: f"start long run {run_id}" in victim.log(), 30, what="the run to start")
    wait_until(pid_file.exists, 10, what="the command's pid")
    time.sleep(1)  # the start is committed within the worker's commit interval (100 ms)
    victim.kill()
    # The command dies with its worker (krond-guard), so that exactly one execution runs at a
    # time.
    shell = int(pid_file.read_text())
    wait_until(lambda: not running(shell), 1.0, interval=0.05,
               what="the dead worker's command to end with it")
    killed_at = time.monotonic()

    survivor = env.worker(CLUSTER, "survivor", "--partitions", "1")
    results = wait_until(lambda: results_by_run(env).get(run_id), 60, interval=0.5,
                         what="the run's result from the survivor")
    assert len(results) == 1, results
    r = results[0]
    assert r["outcome"] == "succeeded", r
    assert r["output_tail"] == "finished\n", r
    assert r["worker"].endswith(f":{survivor.popen.pid}"), r
    assert f"start long run {run_id}" in survivor.log()
    assert "was started by the partition's previous owner" in survivor.log()
    assert "missed its starting_deadline" not in survivor.log()
    # It was indeed far past its deadline when the survivor started it.
    started = dt.datetime.fromisoformat(r["started_at"].replace("Z", "+00:00"))
    assert (started - now).total_seconds() > 2, r
    assert time.monotonic() - killed_at < 60
