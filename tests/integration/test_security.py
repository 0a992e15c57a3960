"""krond on a locked-down Kafka (issue 18): a cluster of the test's own, started with
`scripts/kafka-local up --secure` (SASL_SSL listener, a user per role, the StandardAuthorizer
with no access without ACLs), the ACLs of `krond acls --apply`, and each role connecting with
its own --kafka-config. A job fires, runs, retries and is dead-lettered; the refusals (a
worker principal producing a task, no credentials, a wrong password) are refused, logged and
counted, and the legitimate runs go on. Label `security`."""
from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from krond_testlib import (REPO_ROOT, free_port, http_get, krond, krond_bin, metric_samples,
                           wait_until)

CLUSTER = "c"
PREFIX = "sec"
JOBS = """
clusters: [c]
jobs:
  - name: hello
    schedule: "* * * * * *"
    cluster: c
    command: echo "hello from $KROND_JOB"
  - name: doomed
    schedule: "*/5 * * * * *"
    cluster: c
    command: echo failing >&2; exit 3
    retry: {max_attempts: 2, backoff: 1s, multiplier: 1, jitter: 0}
"""


class SecureCluster:
    def __init__(self, state: Path):
        self.state = state
        self.sec = state / "security"

    def local(self, *args: str) -> str:
        out = subprocess.run([str(REPO_ROOT / "scripts/kafka-local"), *args],
                             env={**os.environ, "KROND_KAFKA_DIR": str(self.state)},
                             capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    @property
    def brokers(self) -> str:
        return (self.state / "bootstrap").read_text().strip()

    def config(self, role: str) -> str:
        """The krond --kafka-config of `role` that kafka-local wrote."""
        return str(self.sec / f"{role}.properties")

    def kcat_config(self, role: str, password: str | None = None) -> str:
        """kcat cannot resolve ${file:...}: the same settings with the password inline."""
        path = self.state / f"kcat-{role}{'-given' if password is not None else ''}.properties"
        pw = password if password is not None else (self.sec / f"{role}.password").read_text()
        path.write_text("security.protocol=SASL_SSL\nsasl.mechanisms=PLAIN\n"
                        f"sasl.username=krond-{role}\nsasl.password={pw.strip()}\n"
                        f"ssl.ca.location={self.sec / 'ca.pem'}\n")
        return str(path)

    def kafka_args(self, role: str) -> list[str]:
        return ["--brokers", self.brokers, "--topic-prefix", PREFIX,
                "--kafka-config", self.config(role)]

    def sees(self, role: str, topic: str) -> bool:
        """Whether `role` is allowed to see `topic` (a metadata request)."""
        out = subprocess.run(["kcat", "-L", "-J", "-F", self.kcat_config(role), "-b",
                              self.brokers, "-t", topic], capture_output=True, text=True,
                             timeout=60)
        topics = json.loads(out.stdout).get("topics", []) if out.returncode == 0 else []
        return any(t.get("topic") == topic and not t.get("error") for t in topics)

    def read(self, kind: str, cluster: str | None = None) -> list[str]:
        """Values now in a topic, read as the admin."""
        topic = f"{PREFIX}.{kind}" + (f".{cluster}" if cluster else "")
        out = subprocess.run(["kcat", "-C", "-F", self.kcat_config("admin"), "-b", self.brokers,
                              "-t", topic, "-o", "beginning", "-e", "-q"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return [line for line in out.stdout.split("\n") if line.strip()]


def refusals(port: int) -> dict[str, float]:
    """krond_kafka_refusals_total of the process serving /metrics on `port` ({} before it
    serves)."""
    try:
        text = http_get(f"http://127.0.0.1:{port}/metrics")
    except OSError:
        return {}
    return {labels["kind"]: value
            for labels, value in metric_samples(text, "krond_kafka_refusals_total")}


def clock_rounds(port: int) -> dict[str, float]:
    """krond_worker_clock_probe_rounds_total by result, of the worker serving `port`."""
    text = http_get(f"http://127.0.0.1:{port}/metrics")
    return {labels["result"]: value
            for labels, value in metric_samples(text, "krond_worker_clock_probe_rounds_total")}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = SecureCluster(tmp_path_factory.mktemp("secure") / "kafka")
    c.local("up", "--secure")
    try:
        subprocess.run([krond_bin(), "topics", "ensure", "--cluster", CLUSTER,
                        *c.kafka_args("admin")], check=True, capture_output=True, timeout=60)
        acls = subprocess.run(
            [krond_bin(), "acls", "--cluster", CLUSTER, "--apply",
             "--principal-scheduler", "User:krond-scheduler",
             "--principal-worker", "User:krond-worker",
             "--principal-console", "User:krond-console", *c.kafka_args("admin")],
            capture_output=True, text=True, timeout=60)
        # Exit 3: librdkafka 2.0.2 cannot create the scheduler's TransactionalId ACL; the
        # kafka-acls.sh command it prints for it is run with Kafka's own tool.
        assert acls.returncode == 3, acls.stderr
        assert "ALLOW User:krond-worker Read Topic sec.tasks.c" in acls.stdout
        commands = [line.split("ADMIN.properties", 1)[1].split()
                    for line in acls.stderr.splitlines() if "kafka-acls.sh" in line]
        assert commands and all("--transactional-id" in args for args in commands), acls.stderr
        for args in commands:
            c.local("acls", *args)
        # The broker applies new ACLs from its metadata log, a moment after creating them.
        for role in ("scheduler", "worker", "console"):
            wait_until(lambda: c.sees(role, f"{PREFIX}.tasks.{CLUSTER}"), 30,
                       what=f"the {role}'s ACLs in effect")
        yield c
    finally:
        c.local("down")


@pytest.fixture(scope="module")
def stack(cluster, tmp_path_factory):
    """Scheduler and workers (both queues), each with its role's credentials and ACLs."""
    logs = tmp_path_factory.mktemp("stack")
    jobs = logs / "jobs.yaml"
    jobs.write_text(JOBS)
    ports = {name: free_port() for name in ("scheduler", "worker", "retry")}

    def metrics(name):
        return ["--metrics-addr", f"127.0.0.1:{ports[name]}"]
    with krond(["worker", "--cluster", CLUSTER, *cluster.kafka_args("worker"),
                *metrics("worker")], log_dir=logs, name="worker") as worker, \
            krond(["worker", "--cluster", CLUSTER, "--queue", "retry",
                   *cluster.kafka_args("worker"), *metrics("retry")], log_dir=logs,
                  name="retry") as retry, \
            krond(["scheduler", "--jobs", str(jobs), *cluster.kafka_args("scheduler"),
                   *metrics("scheduler")], log_dir=logs, name="scheduler") as scheduler:
        yield {"ports": ports, "procs": {"worker": worker, "retry": retry,
                                         "scheduler": scheduler}}


def results(cluster) -> list[dict]:
    return [json.loads(v) for v in cluster.read("results")]


def test_job_fires_runs_retries_and_dead_letters_with_least_privilege(cluster, stack):
    ok = wait_until(lambda: [r for r in results(cluster)
                             if r["job"] == "hello" and r["outcome"] == "succeeded"], 60,
                    what="a run of hello")
    assert ok[0]["output_tail"].strip() == "hello from hello"
    dead = wait_until(lambda: cluster.read("dead", CLUSTER), 60, what="a dead letter")
    letter = json.loads(dead[0])
    assert letter["task"]["job"] == "doomed" and letter["task"]["attempt"] == 2
    doomed = [r for r in results(cluster) if r["run_id"] == letter["task"]["run_id"]]
    assert sorted((r["attempt"], r["queue"], r["outcome"]) for r in doomed) == [
        (1, "main", "failed"), (2, "retry", "failed")]
    # Each worker's clock probe writes and reads back <prefix>.clock with the worker role's
    # ACLs (a round runs at start).
    for name in ("worker", "retry"):
        wait_until(lambda name=name: clock_rounds(stack["ports"][name]).get("ok", 0) >= 1, 30,
                   what=f"a clock probe round of {name}")
        assert clock_rounds(stack["ports"][name]).get("failed") == 0, name
    # Every process did all of that with its role's ACLs and nothing more: not one refusal.
    for name, port in stack["ports"].items():
        assert refusals(port) == {"authentication": 0, "authorization": 0}, name
    # Both workers follow the catalog and control topics (their run gates) in groups of their
    # own, with the worker role's ACLs.
    for name in ("worker", "retry"):
        assert "run gate:" not in stack["procs"][name].log(), stack["procs"][name].tail()
    # The console role reads the dead letters.
    listed = subprocess.run([krond_bin(), "dead", "list", "--cluster", CLUSTER,
                             *cluster.kafka_args("console")],
                            capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stderr
    assert letter["task"]["run_id"] in listed.stdout
    # The worker role may write dead letters but not read them: refused, and told so at once
    # (a reader used to retry a refusal until its timeout, and then say only that).
    denied = subprocess.run([krond_bin(), "dead", "list", "--cluster", CLUSTER,
                             *cluster.kafka_args("worker")],
                            capture_output=True, text=True, timeout=60)
    assert denied.returncode != 0, denied.stdout
    assert re.search(r"reading sec\.dead\.c: refused by Kafka \(authorization\)",
                     denied.stderr), denied.stderr


def test_worker_principal_cannot_produce_a_task(cluster, stack, tmp_path):
    forged = '{"v":1,"run_id":"forged-1","job":"forged","cluster":"c","command":"touch /tmp/x"}'
    out = subprocess.run(["kcat", "-P", "-F", cluster.kcat_config("worker"), "-b",
                          cluster.brokers, "-t", f"{PREFIX}.tasks.{CLUSTER}", "-k", "forged-1",
                          "-X", "message.timeout.ms=10000"],
                         input=forged, capture_output=True, text=True, timeout=60)
    assert "Topic authorization failed" in out.stderr, out.stderr
    # krond itself with the worker's credentials: a scheduler cannot even start (it may not
    # see the lease and state topics), and says why.
    jobs = tmp_path / "jobs.yaml"
    jobs.write_text(JOBS.replace("hello", "impostor").replace("doomed", "impostor2"))
    with krond(["scheduler", "--jobs", str(jobs), *cluster.kafka_args("worker"),
                "--metrics-addr", f"127.0.0.1:{free_port()}"], log_dir=tmp_path,
               name="impostor") as impostor:
        wait_until(lambda: not impostor.alive(), 60, what="the impostor scheduler to give up")
        assert impostor.returncode == 1, impostor.tail()
        impostor.wait_for_log(r"not authorized to create topic sec\.\w+, and cannot see it", 5)
    tasks = cluster.read("tasks", CLUSTER)
    assert not [t for t in tasks if "forged" in t or "impostor" in t]
    # The legitimate stack kept running meanwhile and was never refused.
    before = len([r for r in results(cluster) if r["job"] == "hello"])
    wait_until(lambda: len([r for r in results(cluster) if r["job"] == "hello"]) > before + 2,
               30, what="more runs of hello")
    for name, port in stack["ports"].items():
        assert refusals(port) == {"authentication": 0, "authorization": 0}, name


@pytest.mark.parametrize("how", ["wrong-password", "no-sasl"])
def test_unauthenticated_and_wrong_password_clients_are_refused(cluster, tmp_path, how):
    config = tmp_path / "client.properties"
    if how == "wrong-password":
        config.write_text(Path(cluster.config("worker")).read_text().replace(
            f"${{file:{cluster.sec}/worker.password}}", "not-the-password"))
        assert "not-the-password" in config.read_text()
    else:
        config.write_text(f"security.protocol=SSL\nssl.ca.location={cluster.sec}/ca.pem\n")
    port = free_port()
    with krond(["worker", "--cluster", CLUSTER, "--brokers", cluster.brokers,
                "--topic-prefix", PREFIX, "--kafka-config", str(config),
                "--metrics-addr", f"127.0.0.1:{port}"], log_dir=tmp_path, name=how) as w:
        wait_until(lambda: refusals(port).get("authentication", 0) >= 1, 60,
                   what=f"the {how} worker refused")
        w.wait_for_log(r"refused by Kafka \(authentication\)", 30)
        assert w.alive()
    # kcat too: with a wrong password nothing can be read.
    out = subprocess.run(["kcat", "-L", "-F", cluster.kcat_config("worker", "bad"), "-b",
                          cluster.brokers, "-m", "5"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode != 0 and "Authentication failed" in out.stderr, out.stderr
