"""Signed tasks (issue 18) on the shared broker: the scheduler signs its fires, workers given
--task-public-keys run only tasks signed by a trusted key. Forged tasks produced straight to
the task topic with kcat (unsigned, signed with another key, a signed task with its command
altered) never run (their marker files never appear) and show up as invalid results, dead
letters and krond_worker_tasks_refused_total; a retry carries the original signed task and
`krond dead replay` puts it back unchanged; a key rotation (two trusted keys, then the new
one only) loses no run. Label `security`."""
from __future__ import annotations

import base64
import json
import subprocess

from conftest import krond_bin, wait_until
from krond_testlib import free_port, http_get, metric_samples
from test_security import CLUSTER, JOBS  # hello every second; doomed fails, 2 attempts


class Key:
    def __init__(self, env, name: str):
        self.private = env.tmp / f"{name}.key"
        self.public = env.tmp / f"{name}.pub"
        subprocess.run([krond_bin(), "keygen", "--private", str(self.private), "--public",
                        str(self.public)], check=True, capture_output=True, timeout=30)
        lines = [line for line in self.public.read_text().splitlines()
                 if line.strip() and not line.startswith("#")]
        pub = base64.b64decode(lines[0])
        self.id = pub[:8].hex()

    def sign(self, env, data: bytes) -> bytes:
        """An Ed25519 signature made with openssl from the key file's seed (RFC 8410 DER)."""
        seed = base64.b64decode([line.split()[1] for line in self.private.read_text().splitlines()
                                 if line.startswith("ed25519-private")][0])
        der, msg, sig = (env.tmp / "k.der", env.tmp / "msg", env.tmp / "sig")
        der.write_bytes(bytes.fromhex("302e020100300506032b657004220420") + seed)
        msg.write_bytes(data)
        subprocess.run(["openssl", "pkeyutl", "-sign", "-rawin", "-keyform", "DER", "-inkey",
                        str(der), "-in", str(msg), "-out", str(sig)], check=True, timeout=30)
        return sig.read_bytes()


def envelope(task: dict, key_id: str, sig: bytes) -> str:
    raw = json.dumps(task, separators=(",", ":")).encode()
    return json.dumps({"v": 1, "task": base64.b64encode(raw).decode(), "key": key_id,
                       "sig": base64.b64encode(sig).decode()}, separators=(",", ":"))


def refused(port: int) -> dict[str, float]:
    try:
        text = http_get(f"http://127.0.0.1:{port}/metrics")
    except OSError:
        return {}
    return {labels["reason"]: value
            for labels, value in metric_samples(text, "krond_worker_tasks_refused_total")}


def test_forged_tasks_never_run_and_keys_rotate(env):
    old, new, attacker = Key(env, "old"), Key(env, "new"), Key(env, "attacker")
    env.ensure_topics(CLUSTER)
    jobs = env.write_jobs(JOBS)
    port = free_port()

    def workers(*keys: Key, suffix: str = ""):
        trust = [a for k in keys for a in ("--task-public-keys", str(k.public))]
        return (env.worker(CLUSTER, "worker" + suffix, *trust, "--metrics-addr",
                           f"127.0.0.1:{port}"),
                env.worker(CLUSTER, "retry" + suffix, "--queue", "retry", *trust))

    def results(job=None):
        return [r for r in env.read(env.topic("results")) if job is None or r["job"] == job]

    def succeeded_after(count: int):
        return wait_until(lambda: len([r for r in results("hello")
                                       if r["outcome"] == "succeeded"]) > count + 1, 60,
                          what="more successful runs of hello")

    # Rotation step 1: the workers trust the old and the new key; the scheduler signs with
    # the old one.
    worker, retry = workers(old, new)
    scheduler = env.scheduler(jobs, "scheduler", "--task-signing-key", str(old.private))
    succeeded_after(0)
    fires = [m for m in env.read(env.topic("tasks", CLUSTER)) if "sig" in m]
    assert fires and all(m["key"] == old.id for m in fires), "every fire is signed"
    assert "tasks are not verified" not in worker.log()

    # Forged tasks straight to the task topic, each of which would leave a marker file.
    real = json.loads(base64.b64decode(fires[0]["task"]))
    markers = {}
    forged = {}
    for name in ("unsigned", "attacker", "tampered"):
        markers[name] = env.tmp / f"forged-{name}"
        forged[name] = dict(real, run_id=f"forged-{name}", job="hello",
                            command=f"touch {markers[name]}")
    forged["unsigned"] = json.dumps(forged["unsigned"], separators=(",", ":"))
    raw = json.dumps(forged["attacker"], separators=(",", ":")).encode()
    forged["attacker"] = envelope(forged["attacker"], attacker.id, attacker.sign(env, raw))
    tampered = dict(fires[0])
    tampered["task"] = base64.b64encode(json.dumps(
        forged["tampered"], separators=(",", ":")).encode()).decode()
    forged["tampered"] = json.dumps(tampered, separators=(",", ":"))
    for name, value in forged.items():
        env.produce_raw(env.topic("tasks", CLUSTER), f"forged-{name}", value)

    invalid = wait_until(lambda: {r["run_id"]: r for r in results()
                                  if r["run_id"].startswith("forged-")
                                  and r["outcome"] == "invalid"}
                         if len([r for r in results() if r["run_id"].startswith("forged-")]) >= 3
                         else None, 60, what="the forged tasks' results")
    assert "unsigned task" in invalid["forged-unsigned"]["error"]
    assert "not among the trusted public keys" in invalid["forged-attacker"]["error"]
    assert "bad signature" in invalid["forged-tampered"]["error"]
    assert refused(port) == {"unsigned": 1, "untrusted_key": 1, "bad_signature": 1}
    dead = [d for d in env.read(env.topic("dead", CLUSTER))
            if d.get("last_result", {}).get("run_id", "").startswith("forged-")]
    assert len(dead) == 3 and all(d["reason"].startswith("invalid message") for d in dead)

    # A failed signed run: its retry carries the original signed task, the retry worker
    # verifies it, and the dead letter keeps it for replay.
    letter = wait_until(lambda: [d for d in env.read(env.topic("dead", CLUSTER))
                                 if d.get("task", {}).get("job") == "doomed"], 60,
                        what="doomed dead-lettered")[0]
    run_id = letter["task"]["run_id"]
    retried = [m for m in env.read(env.topic("retry", CLUSTER)) if m.get("sig")
               and json.loads(base64.b64decode(m["task"]))["run_id"] == run_id]
    assert retried and retried[0]["attempt"] == 2 and retried[0]["key"] == old.id
    original = next(m for m in fires + env.read(env.topic("tasks", CLUSTER))
                    if m.get("sig") and json.loads(base64.b64decode(m["task"]))["run_id"] == run_id)
    assert retried[0]["task"] == original["task"] and retried[0]["sig"] == original["sig"]
    assert json.loads(letter["signed_task"])["sig"] == original["sig"]
    out = subprocess.run([krond_bin(), "dead", "replay", "--cluster", CLUSTER, "--run-id", run_id,
                          *env.kafka_args()], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    wait_until(lambda: len([r for r in results("doomed") if r["run_id"] == run_id]) >= 3, 60,
               what="the replayed run's result")
    assert all(r["outcome"] == "failed" for r in results("doomed") if r["run_id"] == run_id)

    # Step 2: the scheduler signs with the new key; runs go on.
    scheduler.stop()
    scheduler = env.scheduler(jobs, "scheduler-new", "--task-signing-key", str(new.private))
    wait_until(lambda: [m for m in env.read(env.topic("tasks", CLUSTER))
                        if m.get("key") == new.id], 60, what="a fire signed with the new key")
    succeeded_after(len([r for r in results("hello") if r["outcome"] == "succeeded"]))
    # Step 3: the workers drop the old key; a task signed with it is now refused.
    for p in (worker, retry):
        p.stop()
    worker, retry = workers(new, suffix="-new")
    succeeded_after(len([r for r in results("hello") if r["outcome"] == "succeeded"]))
    stale = dict(real, run_id="stale-old-key", command=f"touch {env.tmp / 'stale'}")
    raw = json.dumps(stale, separators=(",", ":")).encode()
    env.produce_raw(env.topic("tasks", CLUSTER), "stale-old-key",
                    envelope(stale, old.id, old.sign(env, raw)))
    stale_result = wait_until(lambda: [r for r in results() if r["run_id"] == "stale-old-key"],
                              60, what="the old-key task's result")
    assert stale_result[0]["outcome"] == "invalid"
    assert "not among the trusted public keys" in stale_result[0]["error"]

    # Nothing forged ever ran.
    for path in [*markers.values(), env.tmp / "stale"]:
        assert not path.exists(), path
    assert not [r for r in results() if r["run_id"].startswith(("forged-", "stale-"))
                and r["outcome"] != "invalid"]
