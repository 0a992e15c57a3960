"""Commands run with least privilege (issue 18), on a real broker and real users: a root
worker refuses to run commands as root, switches to `nobody` for a job's user: or its
--run-as, and passes commands only the allow-listed part of its environment.

This machine and CI run the tests as root (needed here: switching users needs it); the
workers of this file are started with KROND_ALLOW_ROOT=0, unlike every other test's."""
import os
import re
import tempfile

import pytest

from krond_testlib import http_get, metric_samples
from test_execution import result_of, start_worker, submit

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")

NOBODY_UID = 65534


@pytest.fixture
def refusing(monkeypatch):
    """Workers started in this test refuse to run commands as root (no --allow-root)."""
    monkeypatch.setenv("KROND_ALLOW_ROOT", "0")


def refused_count(worker, reason):
    url = re.search(r"serving /metrics \S+ \S+ on (http://\S+)", worker.log()).group(1)
    samples = metric_samples(http_get(url + "/metrics"), "krond_worker_runs_refused_total")
    return sum(v for labels, v in samples if labels.get("reason") == reason)


def test_root_worker_refuses_runs_as_root_and_never_runs_them(env, refusing, tmp_path):
    w = start_worker(env, name="refusing")
    marker = tmp_path / "ran"
    no_user = submit(env, f"touch {marker}", job="nouser")
    as_root = submit(env, f"touch {marker}", job="asroot", user="root")
    as_nobody = submit(env, "id -u", job="asnobody", user="nobody")
    for run_id in (no_user, as_root):
        r = result_of(env, run_id)
        assert r["outcome"] == "spawn_failed", r
        assert "refusing to run as root" in r["error"] and "--allow-root" in r["error"], r
    assert result_of(env, as_nobody)["output_tail"] == f"{NOBODY_UID}\n"
    assert not marker.exists(), "a refused run ran"
    assert refused_count(w, "root") == 2
    assert "runs of jobs without user: are refused" in w.log()


def test_unknown_user_fails_the_run_and_is_counted(env, refusing):
    w = start_worker(env, "--run-as", "nobody", name="unknown")
    r = result_of(env, submit(env, "true", job="ghost", user="krond-no-such-user"))
    assert r["outcome"] == "spawn_failed", r
    assert r["error"] == 'unknown user "krond-no-such-user" on this worker', r
    assert refused_count(w, "unknown_user") == 1


def test_run_as_nobody_with_the_allow_listed_environment(env, refusing, monkeypatch):
    # A secret in the worker's environment (as a Kafka password read with ${env:...} would be)
    # and one variable the operator passes on purpose.
    monkeypatch.setenv("KROND_IT_KAFKA_PASSWORD", "s3cret-never-in-a-command")
    monkeypatch.setenv("KROND_IT_PASSED", "passed-on-purpose")
    root_dir = tempfile.mkdtemp(prefix="krond-it-root-owned-")
    os.chmod(root_dir, 0o755)
    try:
        # Warm shells are started as the --run-as user: the first runs may go to either.
        start_worker(env, "--run-as", "nobody", "--pass-env", "KROND_IT_PASSED", name="nobody")
        outputs = []
        for i in range(3):
            command = f"id -u; id -g; id -G; touch {root_dir}/x 2>/dev/null || echo denied; env"
            run_id = submit(env, command, job=f"env{i}")
            r = result_of(env, run_id)
            assert r["outcome"] == "succeeded", r
            outputs.append((run_id, r["output_tail"]))
        assert not os.path.exists(f"{root_dir}/x")
    finally:
        os.rmdir(root_dir)
    for run_id, out in outputs:
        lines = out.splitlines()
        assert lines[:4] == [str(NOBODY_UID), "65534", "65534", "denied"], out
        variables = dict(line.split("=", 1) for line in lines[4:] if "=" in line)
        assert "s3cret" not in out
        assert variables["KROND_IT_PASSED"] == "passed-on-purpose"
        assert variables["KROND_RUN_ID"] == run_id
        assert variables["HOME"] == "/nonexistent" and variables["USER"] == "nobody"
        assert variables["LOGNAME"] == "nobody"
        assert "KROND_ALLOW_ROOT" not in variables
        assert set(variables) <= {"PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE",
                                  "TZ", "TMPDIR", "PWD", "KROND_IT_PASSED", "KROND_RUN_ID",
                                  "KROND_JOB", "KROND_ATTEMPT", "KROND_SCHEDULED_AT",
                                  "KROND_FENCE"} | {v for v in variables if v.startswith("LC_")}, \
            variables
