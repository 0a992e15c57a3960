"""Runs die with their worker, and the worker leaves no zombies (issue 19), with the real
krond binary and krond-guard on the shared broker.

Before: a SIGKILLed worker's commands kept running while the run was redelivered elsewhere
(so it ran twice at once), and in the container image krond was PID 1 with no reaper, so
commands that escaped with setsid became zombies."""
import json
import os
import secrets
import signal
import subprocess
import time
import uuid

import pytest

from conftest import krond_bin, wait_until

CLUSTER = "c"


def submit(env, command, **fields):
    run_id = "life-" + uuid.uuid4().hex[:8]
    task = {"v": 1, "run_id": run_id, "job": "life", "cluster": CLUSTER, "command": command,
            "scheduled_at": "2026-01-01T00:00:00.000Z", "attempt": 1, "max_attempts": 1,
            "timeout_ms": 600000, **fields}
    env.produce_raw(env.topic("tasks", CLUSTER), run_id, json.dumps(task))
    return run_id


def marked(marker):
    """(pid, state, ppid) of every process whose command line holds `marker` (host view,
    whatever namespace it runs in)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        if marker in cmdline and "pytest" not in cmdline:
            fields = stat[stat.rindex(")") + 2:].split()
            found.append((int(entry), fields[0], int(fields[1])))
    return found


def running(marker):
    return [p for p in marked(marker) if p[1] != "Z"]


def cmdline_and_parent(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    return cmdline, int(stat[stat.rindex(")") + 2:].split()[1])


def sleep_marker():
    """A sleep duration no other process uses, e.g. 3000.418273: its command line finds it."""
    return f"3000.{secrets.randbelow(900000) + 100000}"


def start_worker(env, *flags, name="w"):
    env.ensure_topics(CLUSTER)
    w = env.worker(CLUSTER, name, *flags)
    wait_until(lambda: "assigned" in w.log(), 30, what=f"{name} assignment")
    return w


@pytest.mark.parametrize("mode", ["spawned", "warm_shell", "bubblewrap"])
def test_a_killed_workers_commands_die_with_it(env, mode):
    flags = {"spawned": ["--warm-shells", "0"], "warm_shell": ["--warm-shells", "2"],
             "bubblewrap": ["--sandbox", "bubblewrap"]}[mode]
    if mode == "bubblewrap":
        probe = subprocess.run(["bwrap", "--ro-bind", "/", "/", "--unshare-all", "true"],
                               capture_output=True, text=True)
        if probe.returncode != 0:
            pytest.skip(f"bubblewrap unusable here: {probe.stderr.strip()}")
    w = start_worker(env, *flags)
    marker = sleep_marker()
    # The command, a child in its group, and a grandchild: all must go.
    submit(env, f"sleep {marker} & sh -c 'sleep {marker}' & sleep {marker}")
    wait_until(lambda: len(running(marker)) >= 3, 30, what="the run's three sleeps")
    if mode == "warm_shell":
        # No guard of its own between the worker and a warm shell: the worker's one
        # `krond-guard --watch-groups` is what kills it below.
        shells = [cmdline_and_parent(ppid) for _, _, ppid in running(marker)]
        assert any("/dev/fd/3" in cmd and parent == w.popen.pid for cmd, parent in shells), shells

    w.popen.send_signal(signal.SIGKILL)  # the worker alone, as the OOM killer would
    w.popen.wait(10)
    t0 = time.monotonic()
    wait_until(lambda: not running(marker), 1.0, interval=0.05,
               what=f"the run's processes to die with the worker (left: {running(marker)})")
    print(f"{mode}: the run's processes were gone {time.monotonic() - t0:.3f}s after the kill")


def test_an_escaped_daemon_is_reaped_not_left_a_zombie(env):
    w = start_worker(env)
    marker = "0.8" + str(secrets.randbelow(90000) + 10000)  # seconds
    submit(env, f"setsid sleep {marker} & sleep 0.2")
    procs = wait_until(lambda: running(marker), 30, what="the escaped sleep")
    # Its parent, the run's shell, exits first: the worker (a child subreaper) adopts it.
    wait_until(lambda: [p for p in running(marker) if p[2] == w.popen.pid], 10,
               what=f"the worker to adopt the escaped sleep {procs}")
    wait_until(lambda: not marked(marker), 5, interval=0.1,
               what=f"the escaped sleep to be reaped (left: {marked(marker)})")
    assert w.alive()


def test_as_pid_1_the_worker_reaps_what_comes_to_it(env, tmp_path):
    """A container without an init: krond is PID 1 of its PID namespace, and every orphan of
    its commands comes to it."""
    probe = subprocess.run(["unshare", "--pid", "--fork", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip(f"no PID namespaces here: {probe.stderr.strip()}")
    env.ensure_topics(CLUSTER)
    log = open(tmp_path / "pid1-worker.log", "w")
    proc = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--kill-child", krond_bin(), "worker", "--cluster",
         CLUSTER, *env.kafka_args()], stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        wait_until(lambda: "assigned" in (tmp_path / "pid1-worker.log").read_text(), 30,
                   what="assignment of the PID 1 worker")
        marker = "0.8" + str(secrets.randbelow(90000) + 10000)
        submit(env, f"setsid sleep {marker} & sleep 0.2")
        wait_until(lambda: running(marker), 30, what="the escaped sleep")
        wait_until(lambda: not marked(marker), 5, interval=0.1,
                   what=f"the escaped sleep to be reaped by PID 1 (left: {marked(marker)})")
        assert proc.poll() is None
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        log.close()
        print((tmp_path / "pid1-worker.log").read_text()[-3000:])
