"""Fixtures for krond's integration tests: a real Kafka broker (started once per test run by
`scripts/kafka-local up`, see tests/integration/CMakeLists.txt), the real krond binary, and
helpers to run processes and read topics. Every test uses its own topic prefix."""
import base64
import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest

import krond_testlib  # noqa: F401  (lets root workers run commands: KROND_ALLOW_ROOT, see there)

ROOT = Path(__file__).resolve().parents[2]


def bootstrap():
    if os.environ.get("KROND_BOOTSTRAP"):
        return os.environ["KROND_BOOTSTRAP"]
    out = subprocess.run([str(ROOT / "scripts/kafka-local"), "bootstrap"], check=True,
                         capture_output=True, text=True)
    return out.stdout.strip().splitlines()[-1]


def krond_bin():
    return os.environ.get("KROND_BIN", str(ROOT / "build/krond"))


def wait_until(predicate, timeout, interval=0.2, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def dead_letter_raw(letter):
    """The bytes a dead letter of an undecodable message kept (its first 16 KiB, base64 in
    `raw_base64`; docs/messages.md), as text where they are UTF-8."""
    return base64.b64decode(letter["raw_base64"]).decode("utf-8", "replace")


class Proc:
    """A krond process whose output goes to a log file; stopped with SIGTERM (then SIGKILL)."""

    def __init__(self, name, args, tmp_path):
        self.name = name
        self.log_path = tmp_path / f"{name}.log"
        self._log = open(self.log_path, "w")
        self.popen = subprocess.Popen([krond_bin(), *args], stdout=self._log,
                                      stderr=subprocess.STDOUT, start_new_session=True)

    def log(self):
        return self.log_path.read_text(errors="replace")

    def alive(self):
        return self.popen.poll() is None

    def kill(self):
        if self.alive():
            self.popen.send_signal(signal.SIGKILL)
            self.popen.wait(10)

    def stop(self, timeout=40):
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        self._log.close()
        return self.popen.returncode


class Env:
    """One test's view of the broker: a unique topic prefix and process helpers."""

    def __init__(self, tmp_path):
        self.tmp = tmp_path
        self.brokers = bootstrap()
        self.prefix = "it" + uuid.uuid4().hex[:10]
        self.procs = []

    def kafka_args(self):
        return ["--brokers", self.brokers, "--topic-prefix", self.prefix]

    def write_jobs(self, text, name="jobs.yaml"):
        path = self.tmp / name
        path.write_text(text)
        return path

    def start(self, name, *args):
        p = Proc(name, list(args), self.tmp)
        self.procs.append(p)
        return p

    def scheduler(self, jobs, name="scheduler", *extra):
        return self.start(name, "scheduler", "--jobs", str(jobs), *self.kafka_args(), *extra)

    def worker(self, cluster, name=None, *extra):
        return self.start(name or f"worker-{cluster}-{len(self.procs)}", "worker", "--cluster",
                          cluster, *self.kafka_args(), *extra)

    def ensure_topics(self, *clusters):
        args = [krond_bin(), "topics", "ensure", *self.kafka_args()]
        for c in clusters:
            args += ["--cluster", c]
        subprocess.run(args, check=True, capture_output=True, text=True, timeout=60)

    def topic(self, kind, cluster=None):
        return f"{self.prefix}.{kind}" + (f".{cluster}" if cluster else "")

    def read(self, topic):
        """Every message value (decoded JSON) now in `topic`, read committed."""
        out = subprocess.run(
            ["kcat", "-C", "-b", self.brokers, "-t", topic, "-o", "beginning", "-e", "-q",
             "-X", "isolation.level=read_committed", "-f", "%k\t%s\n"],
            capture_output=True, text=True, timeout=60)
        if out.returncode != 0 and "Unknown topic" in out.stderr:
            return []
        messages = []
        # Not splitlines(): it also splits on U+0085, U+2028 and the like, which a JSON
        # string may hold unescaped (a command's binary output, sanitized to UTF-8).
        for line in out.stdout.split("\n"):
            if not line.strip():
                continue
            key, _, value = line.partition("\t")
            try:
                messages.append(json.loads(value))
            except json.JSONDecodeError:
                messages.append({"_raw": value, "_key": key})
        return messages

    def produce_raw(self, topic, key, value):
        subprocess.run(["kcat", "-P", "-b", self.brokers, "-t", topic, "-k", key],
                       input=value, text=True, check=True, timeout=30)

    def close(self):
        for p in reversed(self.procs):
            p.stop()


@pytest.fixture
def env(tmp_path):
    e = Env(tmp_path)
    yield e
    e.close()
    for p in e.procs:
        print(f"----- {p.name} (exit {p.popen.returncode}) -----")
        print("\n".join(p.log().splitlines()[-40:]))
