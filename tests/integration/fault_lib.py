"""Helpers for fault tests that need a Kafka of their own: a cluster started by
scripts/kafka-local in the test's own state dir (so killing, cutting off or filling a broker
never disturbs the shared one), and a TCP proxy the test can cut.

    with OwnCluster(tmp_path / "kafka", brokers=1) as cluster:
        env = own_env(tmp_path, cluster, monkeypatch)   # conftest.Env on this cluster
        ...
        cluster.kill(1); cluster.start(1)
"""
from __future__ import annotations

import os
import socket
import subprocess
import threading
from pathlib import Path

from conftest import ROOT, Env


class OwnCluster:
    """A KRaft cluster of `brokers` nodes in `state_dir`; `extra_config` lines are appended
    to every node's server.properties (KROND_KAFKA_EXTRA_CONFIG of scripts/kafka-local).
    Stopped and removed on leaving the block."""

    def __init__(self, state_dir: Path, brokers: int = 1, extra_config: str | None = None):
        self.state_dir = Path(state_dir)
        self.brokers = brokers
        self.env = dict(os.environ, KROND_KAFKA_DIR=str(self.state_dir))
        if extra_config:
            path = self.state_dir.parent / (self.state_dir.name + "-extra.properties")
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(extra_config)
            self.env["KROND_KAFKA_EXTRA_CONFIG"] = str(path)
        self.bootstrap = ""

    def run(self, *args: str, timeout: float = 240) -> str:
        out = subprocess.run([str(ROOT / "scripts/kafka-local"), *args], env=self.env,
                             capture_output=True, text=True, timeout=timeout)
        if out.returncode != 0:
            raise RuntimeError(f"kafka-local {' '.join(args)} failed:\n{out.stderr}")
        return out.stdout

    def __enter__(self) -> OwnCluster:
        try:
            self.bootstrap = self.run("up", "--brokers", str(self.brokers)).strip().splitlines()[-1]
        except BaseException:
            self.run("down")
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.run("down")

    def kill(self, node: int) -> None:
        self.run("kill-broker", str(node))

    def start(self, *nodes: int) -> None:
        """Starts the nodes together (each waits until it sees every node live)."""
        self.run("start-broker", *map(str, nodes))

    def node_dir(self, node: int) -> Path:
        return self.state_dir / f"node-{node}"


def own_env(tmp_path: Path, cluster: OwnCluster, monkeypatch) -> Env:
    """conftest.Env (unique topic prefix, process helpers) on `cluster` instead of the shared
    broker. Close it (env.close()) before the cluster goes down."""
    monkeypatch.setenv("KROND_BOOTSTRAP", cluster.bootstrap)
    return Env(tmp_path)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TcpProxy:
    """Forwards 127.0.0.1:`port` to 127.0.0.1:`target`. cut() closes every connection and
    stops listening, as a network partition would look to the client (connections refused);
    restore() listens again on the same port."""

    def __init__(self, port: int, target: int):
        self.port, self.target = port, target
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._listener: socket.socket | None = None
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            conns, self._conns = self._conns, []
        if listener:
            listener.close()
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()

    def close(self) -> None:
        self.cut()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    upstream.close()
                    return
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
