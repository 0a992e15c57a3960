"""Faults against real processes, each on a Kafka of its own (fault_lib.OwnCluster), so the
shared broker is never disturbed: SIGTERM with the broker gone, a worker cut off from the
broker while its run goes on, two of three brokers down, the broker's data disk full.
docs/operations.md ("Faults tested") lists what krond does in each and what an operator
sees; run one with `ctest --test-dir build -R it_fault_ --output-on-failure`."""
import collections
import datetime as dt
import json
import signal
import subprocess
import time
import uuid

import pytest

from conftest import krond_bin, wait_until
from fault_lib import OwnCluster, TcpProxy, free_port, own_env

CLUSTER = "c"


def submit(env, command, job="job", topic=None):
    run_id = f"{job}-{uuid.uuid4().hex[:8]}"
    task = {"v": 1, "run_id": run_id, "job": job, "cluster": CLUSTER, "command": command,
            "scheduled_at": "2026-01-01T00:00:00.000Z", "attempt": 1, "max_attempts": 1,
            "timeout_ms": 600000}
    env.produce_raw(topic or env.topic("tasks", CLUSTER), run_id, json.dumps(task))
    return run_id


def results_by_run(env):
    by_run = collections.defaultdict(list)
    for r in env.read(env.topic("results")):
        by_run[r["run_id"]].append(r)
    return by_run


def wait_started(worker, run_id, timeout=30):
    wait_until(lambda: f"run {run_id} attempt" in worker.log(), timeout, what=f"start of {run_id}")


def ts(text):
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_sigterm_with_the_broker_gone_exits_within_its_deadlines(tmp_path, monkeypatch):
    """Before: a worker whose broker was gone ignored SIGTERM for 12+ s (Kubernetes would
    SIGKILL it after the grace period) and logged nothing of what it left unpublished."""
    with OwnCluster(tmp_path / "kafka") as cluster:
        env = own_env(tmp_path, cluster, monkeypatch)
        try:
            env.ensure_topics(CLUSTER)
            w = env.worker(CLUSTER, "w1", "--slots", "2", "--drain-timeout", "5s",
                           "--kill-grace", "2s", "--flush-timeout", "5s")
            wait_until(lambda: "assigned" in w.log(), 60, what="assignment")
            marker = tmp_path / "long-ran-once"
            done = submit(env, "sleep 3; echo done", job="done")
            # Runs long the first time, and ends at once when redelivered.
            long = submit(env, f"if [ -e {marker} ]; then echo again; else touch {marker}; "
                               f"sleep 120; fi", job="long")
            wait_started(w, done)
            wait_started(w, long)
            cluster.kill(1)
            time.sleep(1)

            t0 = time.monotonic()
            w.popen.send_signal(signal.SIGTERM)
            w.popen.wait(60)
            took = time.monotonic() - t0
            log = w.log()
            print(f"worker exited {took:.1f}s after SIGTERM with the broker gone")
            # Drain 5 s (the long run is cancelled; it dies of SIGTERM at once), flush 5 s,
            # at most 3 s to leave the group: well under Kubernetes' 45 s grace period.
            assert took < 18, log[-3000:]
            assert w.popen.returncode == 0
            assert f"long run {long} cancelled by shutdown; it will be redelivered" in log
            assert ("not acknowledged by Kafka after 5000ms (is it reachable?); their offsets "
                    f"stay uncommitted, so another worker runs them again: {done}") in log

            # Nothing is lost: another worker runs both again once Kafka is back.
            cluster.start(1)
            w2 = env.worker(CLUSTER, "w2", "--slots", "2")
            results = wait_until(lambda: (lambda rs: rs if done in rs and long in rs else None)(
                results_by_run(env)), 90, what="results of both runs")
            assert results[done][-1]["outcome"] == "succeeded"
            assert results[long][-1]["output_tail"] == "again\n"
            assert len(results[done]) == 1, "w1 never published it: the broker was gone"
            w2.stop()
        finally:
            env.close()


def test_a_worker_cut_off_from_the_broker_cancels_its_run_and_runs_it_again_after(tmp_path,
                                                                                  monkeypatch):
    """The worker reaches the broker through a TCP proxy (a listener of its own, advertised
    at the proxy's port); cutting the proxy partitions the worker alone. When its session
    expires its partitions are lost (another worker may own them), so it kills the run at
    once rather than let it overlap a redelivery; once the link is back it rejoins and runs
    it again: one complete execution, one result, nothing lost."""
    listener, proxy_port = free_port(), free_port()
    extra = (f"listeners=PLAINTEXT://127.0.0.1:@CLIENT_PORT@,CONTROLLER://127.0.0.1:"
             f"@CONTROLLER_PORT@,CUT://127.0.0.1:{listener}\n"
             f"advertised.listeners=PLAINTEXT://127.0.0.1:@CLIENT_PORT@,"
             f"CUT://127.0.0.1:{proxy_port}\n"
             "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,"
             "CUT:PLAINTEXT\n")
    with OwnCluster(tmp_path / "kafka", extra_config=extra) as cluster:
        env = own_env(tmp_path, cluster, monkeypatch)
        proxy = TcpProxy(proxy_port, listener)
        try:
            env.ensure_topics(CLUSTER)
            w = env.start("w", "worker", "--cluster", CLUSTER, "--brokers",
                          f"127.0.0.1:{proxy_port}", "--topic-prefix", env.prefix)
            wait_until(lambda: "assigned" in w.log(), 60, what="assignment")
            marker = tmp_path / "ran"
            run = submit(env, f"echo start >> {marker}; sleep 12; echo end >> {marker}; "
                              "echo finished")
            wait_started(w, run)
            proxy.cut()
            cut_at = time.monotonic()
            # The session (6 s) expires without the broker: the partitions are lost and the
            # run is cancelled at once, well before its 12 s are up.
            wait_until(lambda: f"{run} cancelled by a rebalance (partition lost)" in w.log(), 20,
                       what="the run to be cancelled when the partitions are lost")
            assert "brokers are down" in w.log()
            time.sleep(3)
            assert w.alive()
            assert run not in results_by_run(env)
            assert marker.read_text() == "start\n", "the cancelled run went on"
            proxy.restore()
            print(f"cut off for {time.monotonic() - cut_at:.1f}s")
            results = wait_until(lambda: results_by_run(env).get(run), 60,
                                 what="the result once the worker is reachable again")
            assert results[0]["outcome"] == "succeeded"
            assert results[0]["output_tail"] == "finished\n"
            text = marker.read_text()
            print(f"executions of the cut-off run: {text.count('start')}, results: "
                  f"{len(results)}")
            # Run again once it rejoined, to its end, and never beside the first execution.
            assert text.startswith("start\nstart\n") and text.count("end") == 1, text
            assert w.alive()
        finally:
            proxy.close()
            env.close()


def fill(path, chunk=1 << 20):
    """Writes zeros to `path` until its file system is full; returns the bytes written."""
    written = 0
    with open(path, "wb", buffering=0) as f:
        block = bytes(chunk)
        while True:
            try:
                written += f.write(block)
            except OSError:
                if chunk == 1:
                    return written
                chunk //= 16
                block = bytes(max(chunk, 1))


def metric(proc, name):
    """The sum of a metric's samples in a krond process's /metrics (found in its log)."""
    import re
    import urllib.request
    url = re.search(r"serving /metrics /healthz /readyz on (http://\S+)", proc.log()).group(1)
    text = urllib.request.urlopen(url.rstrip("/") + "/metrics", timeout=5).read().decode()
    samples = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + " ") or line.startswith(name + "{")]
    if not samples:
        raise KeyError(name)
    return sum(samples)


def fires_and_results(env):
    tasks = env.read(env.topic("tasks", CLUSTER))
    fires = collections.Counter(t["scheduled_at"] for t in tasks)
    return tasks, fires


def assert_every_second_fired_once_with_a_result(env, min_span):
    tasks, fires = fires_and_results(env)
    dupes = [k for k, n in fires.items() if n > 1]
    assert not dupes, dupes
    seconds = sorted(ts(s) for s in fires)
    gaps = [(a, b) for a, b in zip(seconds, seconds[1:]) if (b - a).total_seconds() != 1.0]
    assert not gaps, gaps
    assert (seconds[-1] - seconds[0]).total_seconds() >= min_span
    run_ids = {t["run_id"] for t in tasks}
    results = wait_until(lambda: (lambda rs: rs if set(rs) >= run_ids else None)(
        results_by_run(env)), 120, what="a result for every fired run")
    twice = [r for r in run_ids if len(results[r]) > 1]
    print(f"{len(tasks)} fires over {(seconds[-1] - seconds[0]).total_seconds():.0f}s, no gap, "
          f"no duplicate; every run has a result ({len(twice)} ran twice, at least once)")
    return tasks


def test_the_brokers_data_disk_full(tmp_path, monkeypatch):
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96m", "tmpfs", str(disk)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs for the broker's data: {mounted.stderr.strip()}")
    try:
        jobs = tmp_path / "jobs.yaml"
        jobs.write_text(f"clusters: [{CLUSTER}]\njobs:\n  - name: tick\n    schedule: "
                        f"\"* * * * * *\"\n    cluster: {CLUSTER}\n    command: \"true\"\n")
        with OwnCluster(tmp_path / "kafka", extra_config=f"log.dirs={disk}\n") as cluster:
            env = own_env(tmp_path, cluster, monkeypatch)
            try:
                env.ensure_topics(CLUSTER)
                w = env.worker(CLUSTER, "w")
                s = env.scheduler(jobs)
                wait_until(lambda: len(results_by_run(env)) >= 3, 60, what="first results")
                filler = disk / "filler"
                print(f"filled the disk with {fill(filler) >> 20} MiB")
                full_at = time.monotonic()
                # Kafka cannot write its logs: it takes the log dir offline and, that being
                # its only one, shuts the broker down. krond sees a broker down: the
                # scheduler cannot commit, keeps its runs and retries; the worker keeps its
                # runs.
                broker_log = cluster.node_dir(1) / "logs" / "server.log"
                wait_until(lambda: "lease not renewed for" in s.log(), 90,
                           what="the scheduler to report it cannot commit")
                fired = metric(s, "krond_scheduler_runs_fired_total")
                time.sleep(5)
                assert metric(s, "krond_scheduler_runs_fired_total") == fired, "nothing fires"
                assert s.alive() and w.alive(), "krond rides the outage out"
                print("broker:", [line for line in broker_log.read_text().splitlines()
                                  if "ERROR" in line][-2:])
                # Space returns, the operator restarts the broker: nothing due meanwhile is
                # lost, nothing is doubled.
                filler.unlink()
                cluster.start(1)
                wait_until(lambda: metric(s, "krond_scheduler_runs_fired_total") > fired + 10,
                           90, what="the runs due meanwhile to fire")
                print(f"{fired:.0f} fired before; firing resumed "
                      f"{time.monotonic() - full_at:.0f}s after the disk filled")
                time.sleep(3)
                s.stop()
                assert_every_second_fired_once_with_a_result(env, min_span=20)
            finally:
                env.close()
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_two_of_three_brokers_down(tmp_path, monkeypatch):
    """Replication factor 3, min ISR 2, a KRaft quorum of 3: with two nodes down nothing can
    be written, so nothing fires and nothing runs; every process stays up, and when the nodes
    are back the scheduler commits what it kept (or a standby's catch-up, catch_up: all, fires
it), once."""
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(f"clusters: [{CLUSTER}]\njobs:\n  - name: tick\n    schedule: "
                    f"\"* * * * * *\"\n    cluster: {CLUSTER}\n    command: \"true\"\n"
                    "    catch_up: all\n")
    with OwnCluster(tmp_path / "kafka", brokers=3) as cluster:
        env = own_env(tmp_path, cluster, monkeypatch)
        rf = ["--replication-factor", "3"]
        try:
            subprocess.run([krond_bin(), "topics", "ensure", "--cluster", CLUSTER,
                            *env.kafka_args(), *rf], check=True, capture_output=True, timeout=60)
            w = env.worker(CLUSTER, "w", *rf)
            s = env.scheduler(jobs, "scheduler", *rf)
            wait_until(lambda: len(results_by_run(env)) >= 3, 90, what="first results")
            cluster.kill(2)
            cluster.kill(3)
            down_at = time.monotonic()
            time.sleep(10)
            # What stops: firing (no transaction can commit without 2 in-sync replicas) and
            # so running; nothing crashes.
            fired = metric(s, "krond_scheduler_runs_fired_total")
            finished = w.log().count("finish tick run")
            time.sleep(10)
            assert s.alive() and w.alive(), "every process rides the outage out"
            assert metric(s, "krond_scheduler_runs_fired_total") == fired, "nothing fires"
            assert w.log().count("finish tick run") == finished, "nothing runs"
            cluster.start(2, 3)
            print(f"two nodes down for {time.monotonic() - down_at:.0f}s; "
                  f"{fired:.0f} fired before")
            # What resumes: the scheduler commits the runs it kept and fires what fell due since.
            wait_until(lambda: metric(s, "krond_scheduler_runs_fired_total") > fired + 20, 120,
                       what="firing to resume with the catch-up")
            time.sleep(5)
            s.stop()
            assert_every_second_fired_once_with_a_result(env, min_span=35)
        finally:
            env.close()
