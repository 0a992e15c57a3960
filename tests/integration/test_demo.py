"""The README's main command: scripts/demo runs the whole stack on its own broker."""
import os
import re
import subprocess
from pathlib import Path

from playwright.sync_api import expect

from krond_browser import chromium, sign_in
from krond_testlib import api, http_get

ROOT = Path(__file__).resolve().parents[2]
DEMO_JOBS = re.findall(r"^  - name: (\S+)", (ROOT / "examples/jobs.yaml").read_text(), re.M)


def demo_rows(stdout):
    """The live feed's rows: (time, cluster, worker, job, attempt, outcome, queue)."""
    return [line.split() for line in stdout.splitlines()
            if re.match(r"^\d\d:\d\d:\d\d cluster-", line)]


def test_demo_shows_both_workers_of_each_cluster(tmp_path):
    env = dict(os.environ, KROND_DEMO_SECONDS="35", KROND_DEMO_DIR=str(tmp_path / "demo"))
    env.pop("KROND_KAFKA_DIR", None)  # the demo starts (and stops) a broker of its own
    demo = subprocess.Popen([str(ROOT / "scripts/demo")], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    # While it runs: the console's URL and operator token are printed, and they work.
    stderr = ""
    for line in demo.stderr:
        stderr += line
        if "operator token:" in line:
            break
    url = re.search(r"web console +(http://127\.0\.0\.1:\d+)/", stderr).group(1)
    token = re.search(r"operator token: ([0-9a-f]{48})", stderr).group(1)
    assert api(url, "GET", "/api/v1/whoami", token)[1] == {"name": "demo-operator",
                                                          "role": "operator", "auth": True}
    assert "<title>krond console</title>" in http_get(url + "/")
    # The web console, in headless Chromium with the printed token, lists the demo's jobs.
    with chromium() as context:
        page = context.new_page()
        sign_in(page, url, token)
        names = page.locator("table.jobs tbody th a")
        expect(names).to_have_count(len(DEMO_JOBS), timeout=20_000)
        assert sorted(names.all_inner_texts()) == sorted(DEMO_JOBS)
    stdout, rest = demo.communicate(timeout=240)
    out = subprocess.CompletedProcess(demo.args, demo.returncode, stdout, stderr + rest)
    print(out.stdout[-4000:], out.stderr[-4000:])
    assert out.returncode == 0
    rows = demo_rows(out.stdout)
    workers = {}
    for row in rows:
        time_, cluster, worker, job, attempt, outcome, queue = row
        workers.setdefault((cluster, queue), set()).add(worker)
    assert len(workers.get(("cluster-a", "main"), ())) == 2, workers
    assert len(workers.get(("cluster-b", "main"), ())) == 2, workers
    # The always-failing job is retried by the retry worker.
    assert any(r[3] == "always-fails" and r[6] == "retry" for r in rows), rows
    # The console's URL and a ready-made operator token are printed.
    assert re.search(r"console +http://127\.0\.0\.1:\d+/api/v1", out.stderr), out.stderr
    assert re.search(r"operator token: [0-9a-f]{48}", out.stderr), out.stderr
    assert "stopping Kafka" in out.stderr
    # Nothing is left running.
    assert not list((tmp_path / "demo" / "kafka").glob("node-*/pid"))


def test_secure_demo_runs_on_sasl_ssl_with_acls_and_signed_tasks(tmp_path):
    """`scripts/demo --secure`: the same stack on SASL_SSL, a user per role under the ACLs of
    `krond acls`, tasks signed by the scheduler and verified by every worker."""
    demo_dir = tmp_path / "demo"
    env = dict(os.environ, KROND_DEMO_SECONDS="30", KROND_DEMO_DIR=str(demo_dir),
               KROND_DEMO_MONITORING="0")
    env.pop("KROND_KAFKA_DIR", None)
    out = subprocess.run([str(ROOT / "scripts/demo"), "--secure"], env=env, capture_output=True,
                         text=True, timeout=280)
    print(out.stdout[-4000:], out.stderr[-4000:])
    assert out.returncode == 0
    assert re.search(r"secure Kafka: SASL_SSL, a user per role, \d+ ACLs", out.stderr)
    rows = demo_rows(out.stdout)
    for cluster in ("cluster-a", "cluster-b"):
        assert any(r[1] == cluster and r[5] == "succeeded" and r[6] == "main" for r in rows), rows
    assert any(r[3] == "always-fails" and r[6] == "retry" for r in rows), rows
    logs = {p.name: p.read_text() for p in (demo_dir / "logs").glob("*.log")}
    workers = {name: text for name, text in logs.items() if "worker-" in name}
    assert workers, sorted(logs)
    for name, text in workers.items():
        assert "trusting tasks signed by key" in text, name
    # Nothing was refused: no authorization, authentication or signature failure anywhere.
    for name, text in logs.items():
        if name == "acls.log":
            continue
        for word in ("AUTHORIZATION", "Authentication failed", "SASL authentication",
                     "refused", "invalid signature"):
            assert word not in text, (name, word)
    assert not list((demo_dir / "kafka").glob("node-*/pid"))
