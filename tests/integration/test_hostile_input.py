"""Hostile and oversized data against the real broker (issue 19): a poison task, a result
the topic refuses for its size, a hostile not_before on the main queue, and what
`krond validate` says of a job that could not travel in a message."""
import json
import subprocess
import uuid

from conftest import krond_bin, wait_until

CLUSTER = "c"


def task(run_id, command, **fields):
    return {"v": 1, "run_id": run_id, "job": "hostile", "cluster": CLUSTER, "command": command,
            "scheduled_at": "2026-01-01T00:00:00.000Z", "attempt": 1, "max_attempts": 1,
            "timeout_ms": 60000, **fields}


def results(env):
    by_id = {}
    for r in env.read(env.topic("results")):
        by_id.setdefault(r["run_id"], []).append(r)
    return by_id


def test_a_poison_message_is_dead_lettered_and_passed(env, tmp_path):
    """~340 KB of bytes that are not UTF-8: their dead letter grew ~3x (U+FFFD) over the
    1,000,000-byte limit, was retried forever, and the partition never moved again."""
    env.ensure_topics(CLUSTER)
    w = env.worker(CLUSTER, "w")
    wait_until(lambda: "assigned" in w.log(), 30, what="assignment")
    poison = tmp_path / "poison"
    poison.write_bytes(b"\xff\xfe" * 170_000)
    # One partition for both, so the second waits behind the first.
    subprocess.run(["kcat", "-P", "-b", env.brokers, "-t", env.topic("tasks", CLUSTER), "-p", "0",
                    "-k", "poison-key", str(poison)], check=True, timeout=30)
    after = "after-" + uuid.uuid4().hex[:8]
    subprocess.run(["kcat", "-P", "-b", env.brokers, "-t", env.topic("tasks", CLUSTER), "-p", "0",
                    "-k", after], input=json.dumps(task(after, "echo after")), text=True,
                   check=True, timeout=30)
    # Both results: they are on different partitions of the results topic, so the run
    # behind the poison message may be read before the poison message's own result.
    got = wait_until(
        lambda: (lambda rs: rs if after in rs and "poison-key" in rs else None)(results(env)),
        60, what="the run behind the poison message, and the poison message's result")
    assert got[after][0]["outcome"] == "succeeded"
    assert got["poison-key"][0]["outcome"] == "invalid"
    dead = [d for d in env.read(env.topic("dead", CLUSTER)) if "raw_bytes" in d]
    assert len(dead) == 1, dead
    assert dead[0]["raw_bytes"] == 340_000
    assert len(dead[0]["raw_base64"]) <= 16 * 1024 * 4 // 3 + 4
    assert "refused by Kafka" not in w.log()


def test_a_result_too_large_for_its_topic_is_replaced_not_retried(env):
    """The results topic takes at most 64 KB a record (max.message.bytes), less than the
    worker's 1,000,000: the broker refuses a result with 200 KB of random output for good. The
    worker publishes it again without its output, and goes on."""
    from krond_testlib import create_topic
    create_topic(env.topic("results"), partitions=2, configs={"max.message.bytes": "65536"},
                 brokers=env.brokers)
    env.ensure_topics(CLUSTER)
    w = env.worker(CLUSTER, "w", "--output-tail", "512")  # KiB: the whole output is kept
    wait_until(lambda: "assigned" in w.log(), 30, what="assignment")
    big = "big-" + uuid.uuid4().hex[:8]
    small = "small-" + uuid.uuid4().hex[:8]
    # Random text: the producer's lz4 must not shrink it under the topic's limit.
    for run_id, command in ((big, "head -c 150000 /dev/urandom | base64 -w0"), (small, "echo ok")):
        env.produce_raw(env.topic("tasks", CLUSTER), run_id, json.dumps(task(run_id, command)))
    got = wait_until(lambda: (lambda rs: rs if big in rs and small in rs else None)(results(env)),
                     60, what="both results")
    assert got[big][0]["outcome"] == "succeeded"
    assert got[big][0]["output_tail"] == ""
    assert got[big][0]["output_bytes"] == 200000
    assert "output not published: the result was refused" in got[big][0]["error"]
    assert got[small][0]["output_tail"] == "ok\n"
    log = w.log()
    assert f"result of hostile run {big} refused by Kafka (too_large)" in log
    assert "publishing a smaller one" in log
    assert "will retry" not in log, "a permanent error is not retried"


def test_not_before_does_not_park_the_main_queue(env):
    env.ensure_topics(CLUSTER)
    w = env.worker(CLUSTER, "w")
    wait_until(lambda: "assigned" in w.log(), 30, what="assignment")
    run_id = "parked-" + uuid.uuid4().hex[:8]
    env.produce_raw(env.topic("tasks", CLUSTER), run_id,
                    json.dumps(task(run_id, "echo ran", not_before="9999-01-01T00:00:00.000Z")))
    got = wait_until(lambda: results(env).get(run_id), 30, what="the run, not parked")
    assert got[0]["output_tail"] == "ran\n"


def test_validate_rejects_a_command_that_cannot_travel_in_a_message(tmp_path):
    jobs = tmp_path / "jobs.yaml"
    jobs.write_bytes(b"clusters: [c]\njobs:\n  - name: big\n    schedule: '@daily'\n"
                     b"    cluster: c\n    command: " + b"x" * 70_000 + b"\n"
                     b"  - name: binary\n    schedule: '@every 1ms'\n    cluster: c\n"
                     b"    command: \"echo \xff\"\n")
    out = subprocess.run([krond_bin(), "validate", str(jobs)], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 1
    assert f"{jobs}:10:20: invalid UTF-8 (byte 0xFF): a job file must be UTF-8 text" in out.stderr
    jobs.write_bytes(jobs.read_bytes().replace(b"\xff", b"y"))
    out = subprocess.run([krond_bin(), "validate", str(jobs)], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 1
    assert (f"{jobs}:6:14: command: 70000 bytes, at most 65536 (a run travels in one Kafka "
            "message)") in out.stderr
    assert "@every 1ms: the period must be at least 1s" in out.stderr
