"""The control plane end to end (issue 16): a real broker, scheduler, worker and
`krond console`; the REST API, auth, run now, pause/resume, dead-letter replay, the event
stream, and a history rebuilt from the topics after the database is deleted."""
import time
import urllib.request

from conftest import wait_until
from krond_testlib import api, http_get, metric_samples, served_url, write_auth_file

OPERATOR, VIEWER = "op-secret", "view-secret"

JOBS = """
clusters: [c]
jobs:
  - name: tick
    schedule: "* * * * * *"
    cluster: c
    command: echo tick
  - name: yearly
    schedule: "0 0 1 1 *"
    timezone: America/New_York
    cluster: c
    command: echo "manual $KROND_RUN_ID"
  - name: broken
    schedule: "0 0 1 1 *"
    cluster: c
    command: "test -f FIXED || { touch FIXED; echo doomed; exit 3; }"
"""


def start_console(env, db, name="console"):
    auth = write_auth_file(env.tmp / "auth.txt", {"olga": ("operator", OPERATOR),
                                                  "vic": ("viewer", VIEWER)})
    proc = env.start(name, "console", "--listen", "127.0.0.1:0", "--db", str(db),
                     "--auth-file", str(auth), *env.kafka_args())
    url = wait_until(lambda: served_url(proc.log()), 30, what="the console's address")
    wait_until(lambda: "console ingesting" in proc.log(), 60, what="the console ingesting")
    return proc, url


def scheduler_metrics_url(sched):
    return wait_until(lambda: served_url(sched.log(), r"serving /metrics \S+ \S+ on (http://\S+)"),
                      30, what="the scheduler's metrics address")


def skipped_paused(url):
    samples = metric_samples(http_get(url + "/metrics"), "krond_scheduler_fires_skipped_total")
    return sum(v for labels, v in samples if labels.get("reason") == "paused")


def runs_of(url, job, limit=200, token=VIEWER):
    """The job's runs, newest first; [] while the console has not read the job yet."""
    status, body = api(url, "GET", f"/api/v1/jobs/{job}/runs?limit={limit}", token)
    if status == 404:
        return []
    assert status == 200, body
    return body["runs"]


def tasks_of(env, job):
    return [t for t in env.read(env.topic("tasks", "c")) if t.get("job") == job]


def test_history_run_now_auth_and_pause_resume(env):
    jobs = env.write_jobs(JOBS)
    env.ensure_topics("c")
    env.worker("c", "worker")
    sched = env.scheduler(jobs)
    _, url = start_console(env, env.tmp / "console.db")

    # The catalog and the history appear.
    def tick_runs():
        runs = [r for r in runs_of(url, "tick") if r["status"] == "succeeded"]
        return runs if len(runs) >= 3 else None
    runs = wait_until(tick_runs, 60, what="3 runs of tick in the history")
    assert runs[0]["attempts"][0]["output_tail"] == "tick\n"
    assert runs[0]["trigger"] == "schedule"
    status, page = api(url, "GET", "/api/v1/jobs?cluster=c&sort=name", VIEWER)
    assert status == 200 and page["total"] == 3, page
    yearly = next(j for j in page["jobs"] if j["name"] == "yearly")
    assert yearly["description"] == "at 00:00, on day 1 of the month, in January, America/New_York"
    assert yearly["next"][0].endswith("-01-01T05:00:00.000Z"), yearly
    assert api(url, "GET", "/api/v1/whoami", VIEWER)[1] == {"name": "vic", "role": "viewer",
                                                           "auth": True}

    # Auth and bad input: nothing is written.
    assert api(url, "GET", "/api/v1/jobs")[0] == 401
    assert api(url, "POST", "/api/v1/jobs/yearly/run", VIEWER)[0] == 403
    assert api(url, "POST", "/api/v1/jobs/no-such-job/run", OPERATOR)[0] == 404
    status, body = api(url, "POST", "/api/v1/jobs/yearly/pause", OPERATOR, raw_body="{oops")
    assert status == 400 and "not valid JSON" in body["error"], body
    assert api(url, "POST", "/api/v1/jobs/yearly/resume", OPERATOR)[0] == 409
    assert tasks_of(env, "yearly") == []

    # Run now: one run, trigger manual, by the token's name, in the history.
    status, body = api(url, "POST", "/api/v1/jobs/yearly/run", OPERATOR)
    assert status == 202 and body["trigger"] == "manual", body
    run_id = body["run_id"]
    run = wait_until(lambda: (lambda s, r: r if s == 200 and r["status"] == "succeeded" else None)(
        *api(url, "GET", f"/api/v1/runs/{run_id}", VIEWER)), 60, what="the manual run's result")
    assert run["trigger"] == "manual" and run["requested_by"] == "olga", run
    assert run["attempts"][0]["output_tail"] == f"manual {run_id}\n"
    tasks = tasks_of(env, "yearly")
    assert [(t["run_id"], t["trigger"], t["requested_by"]) for t in tasks] == \
        [(run_id, "manual", "olga")]
    results = [r for r in env.read(env.topic("results")) if r["run_id"] == run_id]
    assert [r["trigger"] for r in results] == ["manual"]

    # Pause: tick's fires are skipped and counted; resume: they fire again.
    metrics = scheduler_metrics_url(sched)
    status, body = api(url, "POST", "/api/v1/jobs/tick/pause", OPERATOR, {"reason": "db work"})
    assert status == 200 and body["paused"] is True, body
    wait_until(lambda: skipped_paused(metrics) >= 2, 30, what="paused fires skipped")
    fired_while_paused = len(tasks_of(env, "tick"))
    skipped_before = skipped_paused(metrics)
    time.sleep(3)
    assert len(tasks_of(env, "tick")) == fired_while_paused, "a paused job fired"
    assert skipped_paused(metrics) >= skipped_before + 2
    job = wait_until(lambda: (lambda s, j: j if j["paused"] else None)(
        *api(url, "GET", "/api/v1/jobs/tick", VIEWER)), 30, what="tick shown paused")
    assert job["paused_by"] == "olga" and job["control"][0]["reason"] == "db work", job
    assert api(url, "POST", "/api/v1/jobs/tick/resume", OPERATOR)[0] == 200
    wait_until(lambda: len(tasks_of(env, "tick")) >= fired_while_paused + 2, 30,
               what="tick firing again after resume")
    status, trail = api(url, "GET", "/api/v1/jobs/tick/control", VIEWER)
    assert [c["paused"] for c in trail["control"]][:2] == [False, True], trail
    assert sched.alive()


def test_dead_letter_replay_events_and_rebuild_from_the_topics(env):
    # `broken` fails its first run only: the replay succeeds.
    jobs = env.write_jobs(JOBS.replace("FIXED", str(env.tmp / "fixed")))
    env.ensure_topics("c")
    env.worker("c", "worker")
    env.scheduler(jobs)
    db = env.tmp / "console.db"
    console, url = start_console(env, db)
    wait_until(lambda: len(runs_of(url, "tick")) >= 2, 60, what="tick's history")

    # The live feed.
    events = urllib.request.Request(url + f"/api/v1/events?access_token={VIEWER}")
    with urllib.request.urlopen(events, timeout=20) as stream:
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        seen = b""
        deadline = time.monotonic() + 15
        while b"event: result" not in seen and time.monotonic() < deadline:
            seen += stream.read1(4096)
        assert b"event: result" in seen and b'"job":"tick"' in seen, seen[:500]

    # A run that fails its only attempt is dead-lettered; replayed once through the API.
    # tick's history may be ingested before the catalog: wait for the job to be known.
    wait_until(lambda: api(url, "GET", "/api/v1/jobs/broken", VIEWER)[0] == 200, 30,
               what="broken in the catalog")
    status, body = api(url, "POST", "/api/v1/jobs/broken/run", OPERATOR)
    assert status == 202, body
    run_id = body["run_id"]

    def dead_entry():
        status, dead = api(url, "GET", "/api/v1/dead?cluster=c", VIEWER)
        return next((d for d in dead["dead"] if d["run_id"] == run_id), None)
    entry = wait_until(dead_entry, 60, what="the dead letter")
    assert entry["replayed"] is False and entry["last_outcome"] == "failed", entry
    status, body = api(url, "POST", f"/api/v1/dead/c/{run_id}/replay", VIEWER)
    assert status == 403
    status, body = api(url, "POST", f"/api/v1/dead/c/{run_id}/replay", OPERATOR)
    assert status == 202 and body["trigger"] == "replay", body
    wait_until(lambda: (dead_entry() or {}).get("replayed"), 30, what="the replay marker")
    assert dead_entry()["replayed_by"] == "olga"
    assert api(url, "POST", f"/api/v1/dead/c/{run_id}/replay", OPERATOR)[0] == 409
    run = wait_until(lambda: (lambda s, r: r if s == 200 and len(r["attempts"]) == 2 else None)(
        *api(url, "GET", f"/api/v1/runs/{run_id}", VIEWER)), 60, what="the replayed attempt")
    assert [a["outcome"] for a in run["attempts"]] == ["failed", "succeeded"], run
    assert run["status"] == "succeeded"

    # The database is a cache: deleted, it is rebuilt from the topics.
    before = {r["run_id"]: (r["status"], len(r["attempts"])) for r in runs_of(url, "tick", 1000)
              if r["status"] != "pending"}
    console.stop()
    for suffix in ("", "-wal", "-shm"):
        (env.tmp / f"console.db{suffix}").unlink(missing_ok=True)
    _, url = start_console(env, db, name="console-rebuilt")

    def rebuilt():
        after = {r["run_id"]: (r["status"], len(r["attempts"])) for r in runs_of(url, "tick", 1000)}
        return all(after.get(k) == v for k, v in before.items()) and after
    wait_until(rebuilt, 60, what="the same history after the rebuild")
    status, run = api(url, "GET", f"/api/v1/runs/{run_id}", VIEWER)
    assert status == 200 and len(run["attempts"]) == 2 and run["status"] == "succeeded", run
    status, dead = api(url, "GET", "/api/v1/dead?cluster=c", VIEWER)
    assert any(d["run_id"] == run_id and d["replayed"] for d in dead["dead"]), dead
