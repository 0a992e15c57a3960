"""Failed runs: retry topic, retry workers, dead letters (issue: Part 3), on a real broker."""
import collections
import datetime as dt
import json
import subprocess
import time

from conftest import dead_letter_raw, krond_bin, wait_until


def ts(text):
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_always_failing_job_is_retried_then_dead_lettered(env):
    jobs = env.write_jobs("""
clusters: [c]
jobs:
  - name: doomed
    schedule: "0 0 1 1 *"
    cluster: c
    command: echo "attempt $KROND_ATTEMPT failing" >&2; exit 3
    retry: {max_attempts: 3, backoff: 1s, multiplier: 2, jitter: 0}
""")
    del jobs
    env.ensure_topics("c")
    env.worker("c", "main")
    env.worker("c", "retry", "--queue", "retry")
    task = {"v": 1, "run_id": "doomed-1", "job": "doomed", "cluster": "c",
            "command": 'echo "attempt $KROND_ATTEMPT failing" >&2; exit 3',
            "scheduled_at": "2026-01-01T00:00:00.000Z", "attempt": 1, "max_attempts": 3,
            "timeout_ms": 10000,
            "retry": {"backoff_ms": 1000, "max_backoff_ms": 60000, "multiplier": 2,
                      "jitter": 0, "retry_on": ["failed", "timed_out"]}}
    env.produce_raw(env.topic("tasks", "c"), "doomed-1", json.dumps(task))
    dead = wait_until(lambda: env.read(env.topic("dead", "c")), 60, what="a dead letter")
    results = sorted((r for r in env.read(env.topic("results")) if r["run_id"] == "doomed-1"),
                     key=lambda r: r["attempt"])
    assert [r["attempt"] for r in results] == [1, 2, 3]
    assert [r["queue"] for r in results] == ["main", "retry", "retry"]
    assert all(r["outcome"] == "failed" and r["exit_code"] == 3 for r in results)
    assert results[2]["output_tail"].strip() == "attempt 3 failing"
    # Spaced by at least the backoff: 1 s, then 2 s.
    gap1 = (ts(results[1]["started_at"]) - ts(results[0]["finished_at"])).total_seconds()
    gap2 = (ts(results[2]["started_at"]) - ts(results[1]["finished_at"])).total_seconds()
    assert gap1 >= 1.0 and gap2 >= 2.0, (gap1, gap2)
    assert len(dead) == 1
    assert dead[0]["task"]["attempt"] == 3
    assert dead[0]["last_result"]["exit_code"] == 3
    assert "attempts exhausted (3/3)" in dead[0]["reason"]
    retries = env.read(env.topic("retry", "c"))
    assert [r["attempt"] for r in retries] == [2, 3]
    assert all("not_before" in r for r in retries)


def test_flaky_job_succeeds_on_a_later_attempt(env, tmp_path):
    counter = tmp_path / "attempts"
    # Deterministic "flaky": fails on the first two attempts, succeeds on the third.
    command = f'n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter}; test $n -ge 3'
    env.ensure_topics("c")
    env.worker("c", "main")
    env.worker("c", "retry", "--queue", "retry")
    task = {"v": 1, "run_id": "flaky-1", "job": "flaky", "cluster": "c", "command": command,
            "scheduled_at": "2026-01-01T00:00:00.000Z", "attempt": 1, "max_attempts": 5,
            "timeout_ms": 10000,
            "retry": {"backoff_ms": 200, "max_backoff_ms": 1000, "multiplier": 2, "jitter": 0.2}}
    env.produce_raw(env.topic("tasks", "c"), "flaky-1", json.dumps(task))
    final = wait_until(lambda: [r for r in env.read(env.topic("results"))
                                if r["run_id"] == "flaky-1" and r["outcome"] == "succeeded"],
                       60, what="a success")
    results = [r for r in env.read(env.topic("results")) if r["run_id"] == "flaky-1"]
    assert sorted(r["attempt"] for r in results) == [1, 2, 3]
    assert final[0]["attempt"] == 3
    assert env.read(env.topic("dead", "c")) == []


def test_malformed_retry_message_goes_to_dead_letters(env):
    env.ensure_topics("c")
    w = env.worker("c", "retry", "--queue", "retry")
    env.produce_raw(env.topic("retry", "c"), "junk", "{not json")
    dead = wait_until(lambda: env.read(env.topic("dead", "c")), 30, what="a dead letter")
    assert dead_letter_raw(dead[0]) == "{not json"
    assert dead[0]["raw_bytes"] == len("{not json")
    assert "not valid JSON" in dead[0]["reason"]
    assert w.alive()


def test_retry_flood_does_not_delay_first_attempts(env):
    """Hundreds of failing retries queued on the retry topic must not slow the main topic:
    first-attempt lateness is measured before and during the flood."""
    env.ensure_topics("c")
    env.worker("c", "main")
    env.worker("c", "retry", "--queue", "retry")
    jobs = env.write_jobs("""
clusters: [c]
jobs:
  - name: first
    schedule: "* * * * * *"
    cluster: c
    command: "true"
""")
    env.scheduler(jobs)

    def first_results():
        return [r for r in env.read(env.topic("results")) if r.get("job") == "first"]

    def lateness(results):
        return [(ts(r["started_at"]) - ts(r["scheduled_at"])).total_seconds() for r in results]

    before = wait_until(lambda: (lambda rs: rs if len(rs) >= 8 else None)(first_results()), 60,
                        what="8 first attempts before the flood")
    flood = [json.dumps({
        "v": 1, "run_id": f"flood-{i}", "job": "flood", "cluster": "c",
        "command": "sleep 0.2; exit 1", "scheduled_at": "2026-01-01T00:00:00.000Z",
        "attempt": 2, "max_attempts": 2, "timeout_ms": 10000}) for i in range(300)]
    subprocess.run(["kcat", "-P", "-b", env.brokers, "-t", env.topic("retry", "c")],
                   input="\n".join(flood) + "\n", text=True, check=True, timeout=60)
    seen = {r["run_id"] for r in before}
    during = wait_until(
        lambda: (lambda rs: rs if len(rs) >= 10 else None)(
            [r for r in first_results() if r["run_id"] not in seen]), 60,
        what="10 first attempts during the flood")
    flooded = [r for r in env.read(env.topic("results")) if r.get("job") == "flood"]
    base, loaded = sorted(lateness(before)), sorted(lateness(during))
    print("first-attempt lateness (s) without the flood:", base)
    print("first-attempt lateness (s) during the flood: ", loaded)
    print("flood attempts processed meanwhile:", len(flooded))
    assert flooded, "the retry worker should be busy with the flood"
    assert max(loaded) < max(base) + 0.5, (base, loaded)


def test_dead_letter_replay_runs_again(env):
    env.ensure_topics("c")
    env.worker("c", "main")
    # A starting_deadline the replay comes after: an operator's replay runs regardless.
    now = dt.datetime.now(dt.timezone.utc)
    task = {"v": 1, "run_id": "replay-1", "job": "once", "cluster": "c",
            "command": "exit 1", "scheduled_at": now.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            "attempt": 1, "max_attempts": 1, "timeout_ms": 10000, "starting_deadline_ms": 3000}
    env.produce_raw(env.topic("tasks", "c"), "replay-1", json.dumps(task))
    wait_until(lambda: env.read(env.topic("dead", "c")), 30, what="a dead letter")
    time.sleep(max(0.0, 4 - (dt.datetime.now(dt.timezone.utc) - now).total_seconds()))
    listing = subprocess.run([krond_bin(), "dead", "list", "--cluster", "c", *env.kafka_args()],
                             capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0, listing.stderr
    assert "replay-1" in listing.stdout and "once" in listing.stdout
    replay = subprocess.run([krond_bin(), "dead", "replay", "--cluster", "c", "--run-id",
                             "replay-1", *env.kafka_args()],
                            capture_output=True, text=True, timeout=60)
    assert replay.returncode == 0, replay.stderr
    assert "replayed 1" in replay.stdout
    results = wait_until(lambda: (lambda rs: rs if len(rs) >= 2 else None)(
        [r for r in env.read(env.topic("results")) if r["run_id"] == "replay-1"]),
        30, what="the replayed run")
    assert collections.Counter(r["attempt"] for r in results) == {1: 2}
    assert [r["outcome"] for r in results] == ["failed", "failed"], results
    tasks = env.read(env.topic("tasks", "c"))
    assert any(t.get("replayed_from") for t in tasks)
