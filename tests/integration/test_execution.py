"""The worker as an execution engine (issue 6), on a real broker: slots, timeouts that kill
the whole process group, concurrency policies, output cap, rlimits, the bubblewrap sandbox,
graceful drain, and commands that misbehave. SIGKILL of a worker mid-run (the run is
redelivered) is tested in test_pipeline.py::test_killed_worker_run_is_redelivered."""
import json
import os
import signal
import socket
import time
import uuid

import pytest

from conftest import wait_until

CLUSTER = "c"


def submit(env, command, job=None, timeout_ms=60000, **fields):
    """Produces one first-attempt task straight to the cluster's topic; returns its run_id."""
    run_id = (job or "job") + "-" + uuid.uuid4().hex[:8]
    task = {"v": 1, "run_id": run_id, "job": job or run_id, "cluster": CLUSTER,
            "command": command, "scheduled_at": "2026-01-01T00:00:00.000Z", "attempt": 1,
            "max_attempts": 1, "timeout_ms": timeout_ms, **fields}
    env.produce_raw(env.topic("tasks", CLUSTER), run_id, json.dumps(task))
    return run_id


def results(env):
    by_id = {}
    for r in env.read(env.topic("results")):
        by_id.setdefault(r["run_id"], []).append(r)
    return by_id


def result_of(env, run_id, timeout=30):
    return wait_until(lambda: results(env).get(run_id), timeout, interval=0.5,
                      what=f"result of {run_id}")[0]


def start_worker(env, *flags, name="w"):
    env.ensure_topics(CLUSTER)
    w = env.worker(CLUSTER, name, *flags)
    wait_until(lambda: "assigned" in w.log(), 30, what=f"{name} assignment")
    return w


def wait_started(worker, run_id, timeout=30):
    wait_until(lambda: f"run {run_id} attempt" in worker.log(), timeout, interval=0.2,
               what=f"start of {run_id}")


def group_alive(pgid):
    """Processes of process group `pgid` that are not zombies."""
    alive = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(entry))
    return alive


def test_long_job_does_not_block_short_ones(env):
    w = start_worker(env, "--slots", "2", "--drain-timeout", "1s")
    long_id = submit(env, "sleep 30", job="long")
    wait_started(w, long_id)
    t0 = time.monotonic()
    fast_id = submit(env, "echo fast", job="fast")
    fast = result_of(env, fast_id, timeout=15)
    assert fast["outcome"] == "succeeded" and fast["output_tail"] == "fast\n"
    assert time.monotonic() - t0 < 10
    assert long_id not in results(env), "the long job is still running"


def test_timeout_kills_the_whole_process_group(env, tmp_path):
    w = start_worker(env, "--kill-grace", "1s")
    pgid_file = tmp_path / "pgid"
    run_id = submit(env, f"echo $$ > {pgid_file}; sleep 100 & sleep 100", timeout_ms=1000)
    r = result_of(env, run_id)
    assert r["outcome"] == "timed_out", r
    assert "timed out after 1000ms" in r["error"]
    pgid = int(pgid_file.read_text())
    # Both sleeps (the one in the background too) are gone, not merely orphaned.
    wait_until(lambda: not group_alive(pgid), 10, what=f"group {pgid} to die")
    assert w.alive()


def test_forbid_skips_an_overlapping_run_and_replace_cancels_it(env):
    w = start_worker(env, "--slots", "2", "--kill-grace", "1s", "--drain-timeout", "1s")
    first = submit(env, "sleep 4; echo first", job="nightly", concurrency="forbid")
    wait_started(w, first)
    second = submit(env, "echo second", job="nightly", concurrency="forbid")
    skipped = result_of(env, second, timeout=15)
    assert skipped["outcome"] == "skipped", skipped
    assert f"run {first} of job nightly is still running" in skipped["error"]
    assert result_of(env, first, timeout=15)["outcome"] == "succeeded"
    assert not env.read(env.topic("dead", CLUSTER)), "skipped runs are not dead-lettered"

    old = submit(env, "sleep 30", job="refresh", concurrency="replace")
    wait_started(w, old)
    new = submit(env, "echo new", job="refresh", concurrency="replace")
    cancelled = result_of(env, old, timeout=15)
    assert cancelled["outcome"] == "cancelled", cancelled
    assert f"replaced by run {new}" in cancelled["error"]
    replacement = result_of(env, new, timeout=15)
    assert replacement["outcome"] == "succeeded" and replacement["output_tail"] == "new\n"
    assert w.alive()


def test_output_is_capped_to_its_tail_and_counted(env):
    start_worker(env)
    run_id = submit(env, "yes | head -c 5000000")
    r = result_of(env, run_id)
    assert r["outcome"] == "succeeded", r
    assert r["output_bytes"] == 5000000
    assert 0 < len(r["output_tail"].encode()) <= 16 * 1024
    assert set(r["output_tail"]) <= {"y", "\n"}


def test_memory_limit_stops_a_greedy_run_and_the_worker_goes_on(env):
    w = start_worker(env, "--limit-memory", "100MiB")
    greedy = submit(env, "/usr/bin/python3 -c 'b = bytearray(1024 ** 3); print(len(b))'")
    r = result_of(env, greedy)
    assert r["outcome"] in ("failed", "killed"), r
    assert "MemoryError" in r["output_tail"] or r["outcome"] == "killed", r
    ok = submit(env, "echo still here")
    assert result_of(env, ok)["outcome"] == "succeeded"
    assert w.alive()


def test_sandboxed_job_has_no_network_and_a_read_only_root(env):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = listener.getsockname()[1]
    try:
        # A worker without --sandbox: the job's `sandbox: bubblewrap` alone puts it in one.
        w = start_worker(env, "--slots", "4")
        connect = (f"/usr/bin/python3 -c \"import socket; "
                   f"socket.create_connection(('127.0.0.1', {port}), 2); print('connected')\"")
        runs = {
            "etc": submit(env, "touch /etc/krond-sandbox-test", sandbox="bubblewrap"),
            "tmp": submit(env, "touch /tmp/x && id -u", sandbox="bubblewrap"),
            "net": submit(env, connect, sandbox="bubblewrap"),
            "net_allowed": submit(env, connect, sandbox="bubblewrap", network=True),
            "host_net": submit(env, connect),
        }
        got = {name: result_of(env, run_id) for name, run_id in runs.items()}
    finally:
        listener.close()
    if got["tmp"]["outcome"] == "spawn_failed":
        # Never run unsandboxed: every sandboxed run must fail the same way.
        assert all(got[n]["outcome"] == "spawn_failed" for n in ("etc", "tmp", "net"))
        pytest.skip("bubblewrap unusable here: " + got["tmp"]["error"])
    assert got["etc"]["outcome"] == "failed", got["etc"]
    assert "Read-only file system" in got["etc"]["output_tail"]
    assert not os.path.exists("/etc/krond-sandbox-test")
    assert got["tmp"]["outcome"] == "succeeded", got["tmp"]
    assert got["tmp"]["output_tail"] == "65534\n", "runs as nobody"
    assert got["net"]["outcome"] == "failed", got["net"]
    assert "connected" not in got["net"]["output_tail"]
    assert got["net_allowed"]["outcome"] == "succeeded", got["net_allowed"]
    assert got["host_net"]["outcome"] == "succeeded", got["host_net"]
    assert w.alive()


def test_sigterm_lets_a_running_job_finish_and_exits_zero(env):
    w = start_worker(env)
    run_id = submit(env, "sleep 3; echo done")
    wait_started(w, run_id)
    w.popen.send_signal(signal.SIGTERM)
    assert w.popen.wait(30) == 0
    r = result_of(env, run_id, timeout=10)
    assert r["outcome"] == "succeeded" and r["output_tail"] == "done\n"
    assert "worker stopped after 1 run(s)" in w.log()


def test_drain_timeout_leaves_the_run_uncommitted_for_another_worker(env, tmp_path):
    w1 = start_worker(env, "--drain-timeout", "1s", "--kill-grace", "1s", name="w1")
    runs_file = tmp_path / "runs"
    # The first execution takes 30 s; the second (on the next worker) finishes at once.
    command = (f"echo x >> {runs_file}; [ $(wc -l < {runs_file}) -ge 2 ] && echo again "
               f"&& exit 0; sleep 30")
    run_id = submit(env, command)
    wait_started(w1, run_id)
    t0 = time.monotonic()
    w1.popen.send_signal(signal.SIGTERM)
    assert w1.popen.wait(30) == 0
    assert time.monotonic() - t0 < 10
    assert "cancelled by shutdown; it will be redelivered" in w1.log()
    assert run_id not in results(env), "no result for a run cut short by shutdown"
    w2 = env.worker(CLUSTER, "w2")
    r = result_of(env, run_id, timeout=60)
    assert r["outcome"] == "succeeded" and r["output_tail"] == "again\n", r
    assert len(results(env)[run_id]) == 1
    assert runs_file.read_text().count("x") == 2
    assert w2.alive()


def test_misbehaving_commands_get_a_clear_outcome_and_the_worker_stays_healthy(env):
    w = start_worker(env, "--slots", "4")
    runs = {
        "missing": submit(env, "no-such-command-krond"),
        "segv": submit(env, "kill -SEGV $$"),
        "closed": submit(env, "exec >&- 2>&-; sleep 0.5; exit 0"),
        "binary": submit(env, "head -c 3000 /dev/urandom"),
        "daemon": submit(env, "(sleep 100 &); echo hi"),
    }
    got = {name: result_of(env, run_id) for name, run_id in runs.items()}
    assert got["missing"]["outcome"] == "failed" and got["missing"]["exit_code"] == 127
    assert "not found" in got["missing"]["output_tail"]
    assert got["segv"]["outcome"] == "killed" and got["segv"]["signal"] == 11, got["segv"]
    assert got["closed"]["outcome"] == "succeeded", got["closed"]
    assert got["binary"]["outcome"] == "succeeded" and got["binary"]["output_bytes"] == 3000
    assert got["daemon"]["outcome"] == "succeeded", got["daemon"]
    assert got["daemon"]["output_tail"] == "hi\n"
    assert "processes left behind by the command were killed" in got["daemon"]["error"]
    after = submit(env, "echo fine")
    assert result_of(env, after)["outcome"] == "succeeded"
    assert w.alive()
