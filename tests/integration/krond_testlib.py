"""Helpers for krond's integration tests against the real Kafka of scripts/kafka-local.

The broker is shared by the whole ctest run (the `kafka` fixture in CMakeLists.txt), so every
test works on its own topics: take a prefix from unique_topic_prefix() and create what you
need. Auto-creation of topics is off on the broker.

    from krond_testlib import (bootstrap, unique_topic_prefix, create_topic, produce,
                               consume_all, run_process, krond, wait_until)

    prefix = unique_topic_prefix("retries")
    create_topic(f"{prefix}.tasks", partitions=2)
    with krond(["worker", "--cluster", "c", "--brokers", bootstrap(),
                "--topic-prefix", prefix], log_dir=tmp_path) as worker:
        wait_until(lambda: "assigned" in worker.log(), 30, what="partition assignment")
        ...
    # Leaving the block: SIGTERM, then SIGKILL after stop_timeout; the log stays on disk.

Environment (set by krond_integration_test() in CMakeLists.txt):
    KROND_KAFKA_DIR   state dir of scripts/kafka-local (bootstrap, jmx_ports)
    KROND_BIN         the krond binary (default: <repo>/build/krond)
    KROND_BOOTSTRAP   optional: use this broker instead of asking scripts/kafka-local
    KROND_ALLOW_ROOT  set to 1 here when running as root (see below)
Only the standard library and kcat are used, so tests run with plain python3 or pytest.
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, TypeVar

REPO_ROOT = Path(__file__).resolve().parents[2]
KAFKA_LOCAL = REPO_ROOT / "scripts" / "kafka-local"
KAFKA_LIB = REPO_ROOT / "deploy" / "kafka" / "lib"

T = TypeVar("T")

# CI and the dev machines run the tests as root. The workers they start test scheduling, not
# the host's users, so they may run commands as root (docs/security.md, "Commands run with
# least privilege"): every process started from here inherits this, through the flag's
# variable. test_run_as.py starts its workers with KROND_ALLOW_ROOT=0 to test the refusal.
if os.geteuid() == 0:
    os.environ.setdefault("KROND_ALLOW_ROOT", "1")


# --- The broker ---------------------------------------------------------------------------

def kafka_dir() -> Path:
    """The state dir of scripts/kafka-local ($KROND_KAFKA_DIR, default <repo>/var/kafka)."""
    return Path(os.environ.get("KROND_KAFKA_DIR", REPO_ROOT / "var" / "kafka"))


def bootstrap() -> str:
    """Bootstrap servers of the running local Kafka, e.g. '127.0.0.1:40123'.

    Raises RuntimeError (with the script's message) when no broker is up."""
    if os.environ.get("KROND_BOOTSTRAP"):
        return os.environ["KROND_BOOTSTRAP"]
    out = subprocess.run([str(KAFKA_LOCAL), "bootstrap"], capture_output=True, text=True,
                         timeout=30)
    if out.returncode != 0:
        raise RuntimeError(f"no local Kafka: {out.stderr.strip()}")
    return out.stdout.strip().splitlines()[-1]


def jmx_exporter_urls() -> dict[int, str]:
    """node id -> the Prometheus JMX exporter URL of that broker."""
    urls = {}
    for line in (kafka_dir() / "jmx_ports").read_text().splitlines():
        node, port = line.split()
        urls[int(node)] = f"http://127.0.0.1:{port}/metrics"
    return urls


def kafka_local(*args: str, timeout: float = 180) -> str:
    """Runs scripts/kafka-local (e.g. kafka_local("kill-broker", "2")); returns its stdout."""
    out = subprocess.run([str(KAFKA_LOCAL), *args], capture_output=True, text=True,
                         timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"kafka-local {' '.join(args)} failed ({out.returncode}):\n"
                           f"{out.stderr}")
    return out.stdout


def unique_topic_prefix(test_name: str = "") -> str:
    """A fresh topic prefix such as 't3f9a1c0e-retries': 't' + 8 random hex digits, then the
    test name reduced to the characters Kafka allows in topic names."""
    name = re.sub(r"[^a-zA-Z0-9_-]+", "-", test_name).strip("-")[:40]
    return f"t{secrets.token_hex(4)}" + (f"-{name}" if name else "")


def kafka_tool(main_class: str, *args: str, timeout: float = 60) -> str:
    """Runs a Kafka command-line tool class from deploy/kafka/lib, e.g.
    kafka_tool("org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
               "--bootstrap-server", bootstrap(), "--describe", "--group", "g")."""
    cmd = ["java", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx128m",
           f"-Dlog4j2.configurationFile={REPO_ROOT / 'deploy/kafka/log4j2.properties'}",
           f"-Dkafka.logs.dir={tempfile.gettempdir()}",
           "-cp", f"{KAFKA_LIB}/*", main_class, *args]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"{main_class} {' '.join(args)} failed ({out.returncode}):\n"
                           f"{out.stdout}{out.stderr}")
    return out.stdout


def create_topic(topic: str, partitions: int = 1, replication_factor: int | None = None,
                 configs: dict[str, str] | None = None, brokers: str | None = None) -> None:
    """Creates `topic` (Kafka's TopicCommand; about a second for the JVM). Replication defaults
    to the broker's default.replication.factor (the number of nodes, at most 3)."""
    args = ["--bootstrap-server", brokers or bootstrap(), "--create", "--topic", topic,
            "--partitions", str(partitions)]
    if replication_factor is not None:
        args += ["--replication-factor", str(replication_factor)]
    for key, value in (configs or {}).items():
        args += ["--config", f"{key}={value}"]
    kafka_tool("org.apache.kafka.tools.TopicCommand", *args)


# --- Producing and consuming with kcat ----------------------------------------------------

@dataclasses.dataclass
class Message:
    topic: str
    partition: int
    offset: int
    key: str | None
    value: Any            # JSON-decoded payload; the raw string if it is not JSON; None: null
    raw: str | None       # the payload as text
    timestamp_ms: int
    headers: dict[str, str]


def produce(topic: str, messages: Sequence[Any], brokers: str | None = None,
            partition: int | None = None, config: dict[str, str] | None = None) -> None:
    """Produces `messages` in order (idempotent producer, acks=all). Each is a value or a
    (key, value) pair; values that are not str are JSON-encoded. Keys and values must not
    contain tabs or newlines (kcat framing); JSON text never does. `config`: extra librdkafka
    properties. Raises RuntimeError if any message was not delivered."""
    lines = []
    for m in messages:
        key, value = m if isinstance(m, tuple) else ("", m)
        if not isinstance(value, str):
            value = json.dumps(value, separators=(",", ":"))
        for part in (key, value):
            if "\t" in part or "\n" in part:
                raise ValueError(f"tab or newline in {part!r}: use kcat directly")
        lines.append(f"{key}\t{value}")
    cmd = ["kcat", "-P", "-b", brokers or bootstrap(), "-t", topic, "-K", "\t",
           "-X", "enable.idempotence=true", "-X", "message.timeout.ms=30000"]
    for key, value in (config or {}).items():
        cmd += ["-X", f"{key}={value}"]
    if partition is not None:
        cmd += ["-p", str(partition)]
    out = subprocess.run(cmd, input="\n".join(lines) + "\n", capture_output=True, text=True,
                         timeout=60)
    # Not every stderr line is an error: with a node down kcat logs failed connections.
    if out.returncode != 0 or "Delivery failed" in out.stderr:
        raise RuntimeError(f"producing to {topic} failed: {out.stderr.strip()}")


def topic_exists(topic: str, brokers: str | None = None) -> bool:
    """Whether the cluster has `topic` (a metadata request; never creates it)."""
    out = subprocess.run(["kcat", "-L", "-b", brokers or bootstrap(), "-t", topic, "-J"],
                         capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise RuntimeError(f"metadata request failed: {out.stderr.strip()}")
    topics = json.loads(out.stdout).get("topics", [])
    return any(t.get("topic") == topic and not t.get("error") for t in topics)


def consume_all(topic: str, brokers: str | None = None, timeout: float = 30,
                read_committed: bool = True, missing_ok: bool = False) -> list[Message]:
    """Every message now in `topic` (all partitions, from the beginning to the current end),
    ordered by (timestamp, partition, offset). Values are JSON-decoded when they parse.
    Transactional data is read committed unless read_committed=False. An unknown topic raises
    RuntimeError, or gives [] with missing_ok=True."""
    cmd = ["kcat", "-C", "-b", brokers or bootstrap(), "-t", topic, "-o", "beginning", "-e",
           "-q", "-J", "-X",
           f"isolation.level={'read_committed' if read_committed else 'read_uncommitted'}"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        if missing_ok and "Unknown topic" in out.stderr:
            return []
        raise RuntimeError(f"consuming {topic} failed: {out.stderr.strip()}")
    result = []
    # Not splitlines(): it also splits on U+0085, U+2028 and the like, which a JSON string
    # may hold unescaped (a command's binary output, sanitized to UTF-8).
    for line in out.stdout.split("\n"):
        if not line.startswith("{"):
            continue
        env = json.loads(line)
        raw = env.get("payload")
        try:
            value = json.loads(raw) if raw is not None else None
        except json.JSONDecodeError:
            value = raw
        hdrs = env.get("headers") or []
        result.append(Message(topic=env["topic"], partition=env["partition"],
                              offset=env["offset"], key=env.get("key"), value=value, raw=raw,
                              timestamp_ms=env.get("ts", 0),
                              headers=dict(zip(hdrs[::2], hdrs[1::2]))))
    result.sort(key=lambda m: (m.timestamp_ms, m.partition, m.offset))
    return result


# --- Waiting ------------------------------------------------------------------------------

def wait_until(predicate: Callable[[], T], timeout: float = 30, interval: float = 0.2,
               what: str = "condition") -> T:
    """Polls `predicate` until it returns something truthy, and returns that. Raises
    TimeoutError naming `what` after `timeout` seconds. Exceptions from the predicate
    propagate (wrap it yourself if a poll may fail transiently)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def owned_partitions(worker_log: str) -> set[str]:
    """The partitions a worker owns now, from the assigned/revoked/lost lines of its log."""
    owned: set[str] = set()
    for verb, names in re.findall(
            r"(assigned|revoked|lost) \d+ partition\(s\)(?: \([^)]*\))?:? ?([^\n]*)", worker_log):
        parts = {p.strip() for p in names.split(",") if p.strip()}
        owned = owned | parts if verb == "assigned" else owned - parts
    return owned


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago (for --metrics-addr)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, timeout: float = 5) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return resp.read().decode()


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def metric_samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """(labels, value) of every sample of metric `name` in Prometheus text format."""
    samples = []
    for line in text.splitlines():
        m = _SAMPLE.match(line)
        if m and m.group(1) == name:
            samples.append((dict(_LABEL.findall(m.group(2) or "")), float(m.group(3))))
    return samples


# --- Processes ----------------------------------------------------------------------------

class Process:
    """A child process in its own session, stdout and stderr going to `log_path`."""

    def __init__(self, argv: Sequence[str], log_path: Path, env: dict[str, str] | None = None,
                 cwd: Path | None = None):
        self.argv = list(argv)
        self.log_path = Path(log_path)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log_file = open(self.log_path, "wb")
        full_env = dict(os.environ)
        full_env.update(env or {})
        self.popen = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                      stdout=self._log_file, stderr=subprocess.STDOUT,
                                      env=full_env, cwd=cwd, start_new_session=True)

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, pattern: str, timeout: float = 30) -> re.Match:
        """Waits until the log matches regex `pattern`; fails early if the process exits."""
        rx = re.compile(pattern)

        def check():
            m = rx.search(self.log())
            if not m and not self.alive():
                raise AssertionError(f"{self.argv[0]} exited ({self.returncode}) before "
                                     f"logging /{pattern}/:\n{self.tail()}")
            return m
        return wait_until(check, timeout, what=f"/{pattern}/ in {self.log_path}")

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def signal(self, sig: int) -> None:
        if self.alive():
            os.killpg(self.popen.pid, sig)

    def stop(self, timeout: float = 15) -> int:
        """SIGTERM to the process group, SIGKILL after `timeout` s. Returns the exit code
        (negative: killed by that signal)."""
        if self.alive():
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.popen.wait(10)
        self._log_file.close()
        return self.popen.returncode

    def kill(self) -> int:
        """SIGKILL now (a crash, for failure tests)."""
        self.signal(signal.SIGKILL)
        self.popen.wait(10)
        return self.popen.returncode


@contextlib.contextmanager
def run_process(argv: Sequence[str], log_dir: Path | str | None = None,
                name: str | None = None, env: dict[str, str] | None = None,
                stop_timeout: float = 15) -> Iterator[Process]:
    """Starts `argv` with its output in <log_dir>/<name>.log (log_dir defaults to a new temp
    dir) and stops it on leaving the block (SIGTERM, then SIGKILL after stop_timeout). If the
    block raises, the last lines of the log are printed to stderr."""
    log_dir = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="krond-it-"))
    name = name or Path(argv[0]).name
    proc = Process(argv, log_dir / f"{name}.log", env=env)
    try:
        yield proc
    except BaseException:
        print(f"----- last lines of {proc.log_path} -----\n{proc.tail()}", file=sys.stderr)
        raise
    finally:
        proc.stop(stop_timeout)


def krond_bin() -> str:
    """The krond binary under test ($KROND_BIN, else <repo>/build/krond)."""
    return os.environ.get("KROND_BIN", str(REPO_ROOT / "build" / "krond"))


def krond(args: Sequence[str], log_dir: Path | str | None = None, name: str | None = None,
          env: dict[str, str] | None = None, stop_timeout: float = 15):
    """run_process() for `krond <args>`; the log is named after the subcommand by default."""
    return run_process([krond_bin(), *args], log_dir=log_dir,
                       name=name or (args[0] if args else "krond"), env=env,
                       stop_timeout=stop_timeout)


# --- The console's API ---------------------------------------------------------------------

def write_auth_file(path: Path, tokens: dict[str, tuple[str, str]]) -> Path:
    """Writes a `krond console --auth-file`: {name: (role, token)} -> NAME ROLE SHA256 lines."""
    import hashlib
    lines = [f"{name} {role} {hashlib.sha256(token.encode()).hexdigest()}"
             for name, (role, token) in tokens.items()]
    Path(path).write_text("\n".join(lines) + "\n")
    return Path(path)


def api(base_url: str, method: str, path: str, token: str | None = None, body: Any = None,
        raw_body: str | None = None, timeout: float = 15) -> tuple[int, Any]:
    """One request to the console's API: (status, decoded JSON body). `body` is JSON-encoded;
    `raw_body` is sent as it is (for malformed input). Never raises for an HTTP error status."""
    data = raw_body.encode() if raw_body is not None else (
        json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request(base_url + path, data=data, method=method)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, text = resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        status, text = e.code, e.read().decode()
    try:
        return status, json.loads(text)
    except json.JSONDecodeError:
        return status, text


def served_url(log: str, pattern: str = r"console serving the API on (https?://\S+?)/api/v1") -> str | None:
    """The first URL a krond process logged it serves on (the console's API by default; for
    /metrics: pattern=r"serving /metrics \\S+ \\S+ on (http://\\S+)")."""
    m = re.search(pattern, log)
    return m.group(1) if m else None
