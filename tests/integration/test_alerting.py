"""End-to-end alerting with real components: the krond scheduler and workers against the shared
Kafka, and Prometheus + Alertmanager started by scripts/monitoring-local with the production
rules of deploy/prometheus/alerts.yml run 60 times faster (--time-scale 60: a 5m window is 5s,
`for: 2m` is 2s), posting to a webhook of the test's own.

1. Healthy: the Watchdog reaches the webhook; no krond alert fires for our clusters.
2. Broken: both workers of cluster `alpha` are stopped while its job fires every second, and a
   job that always fails is added to cluster `beta` (scheduler reload by SIGHUP). Expected:
   KrondTasksNotConsumed on alpha's task topic, KrondTargetDown for both alpha workers,
   KrondRunsFailing and KrondRunsDeadLettered for beta, each within 90 s.
3. Fixed: the alpha workers start again on the same ports and the failing job is removed;
   every one of those alerts is resolved within 90 s.
4. Every expression of every alert rule and Grafana panel is run against this Prometheus:
   each evaluates without error, every metric named in them exists, and each panel returns
   data (no panel shows a metric that krond or Kafka does not export).
"""
import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from conftest import ROOT, wait_until
from krond_testlib import free_port

MONITORING = ROOT / "scripts" / "monitoring-local"
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "krond.json"
ALERT_TIMEOUT = 90

HEALTHY_JOBS = """\
clusters: [alpha, beta]
jobs:
  - name: tick-alpha
    schedule: "* * * * * *"
    cluster: alpha
    command: "true"
  - name: tick-beta
    schedule: "* * * * * *"
    cluster: beta
    command: "true"
"""
FAILING_JOB = """\
  - name: always-fails
    schedule: "* * * * * *"
    cluster: beta
    command: echo failing >&2; exit 3
    retry: {max_attempts: 2, backoff: 1s}
"""


class Webhook:
    """An Alertmanager webhook receiver: remembers every alert notification it is sent."""

    def __init__(self):
        self.events = []  # (monotonic time, status, labels)
        self.lock = threading.Lock()
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                payload = json.loads(body)
                with hook.lock:
                    for alert in payload.get("alerts", []):
                        hook.events.append((time.monotonic(), alert["status"], alert["labels"]))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def matching(self, alertname, since=0.0, **labels):
        with self.lock:
            return [(t, status, lab) for t, status, lab in self.events
                    if t >= since and lab.get("alertname") == alertname
                    and all(lab.get(k) == v for k, v in labels.items())]

    def status(self, alertname, since=0.0, **labels):
        """The latest status ('firing'/'resolved') of the matching alert, or None."""
        events = self.matching(alertname, since, **labels)
        return events[-1][1] if events else None

    def names(self):
        with self.lock:
            return sorted({lab["alertname"] for _, _, lab in self.events})

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Prometheus:
    def __init__(self, url):
        self.url = url

    def get(self, path, **params):
        query = urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(f"{self.url}{path}?{query}", timeout=10) as resp:
                return json.load(resp)
        except urllib.error.HTTPError as e:
            return json.loads(e.read() or b"{}") or {"status": "error", "error": str(e)}

    def query(self, expr):
        """The result list of an instant query; raises AssertionError on a query error."""
        answer = self.get("/api/v1/query", query=expr)
        assert answer.get("status") == "success", f"{expr!r}: {answer.get('error', answer)}"
        return answer["data"]["result"]


def alert_expressions():
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {r["alert"]: r["expr"] for g in groups for r in g["rules"] if "alert" in r}


def dashboard_expressions():
    """(panel title, PromQL) of every panel target, with Grafana's variables filled in."""
    dash = json.loads(DASHBOARD.read_text())
    out = []

    def walk(panels):
        for p in panels:
            walk(p.get("panels", []))
            for t in p.get("targets", []):
                expr = t["expr"].replace("$__rate_interval", "10s").replace("$cluster", ".*")
                out.append((p["title"], expr))
    walk(dash["panels"])
    variables = [v["definition"] for v in dash["templating"]["list"] if v["type"] == "query"]
    return out, variables


def metric_names(expr):
    return set(re.findall(r"\b((?:krond|kafka)_[a-zA-Z0-9_]+)\b", expr))


@pytest.fixture
def webhook():
    w = Webhook()
    yield w
    w.close()


@pytest.fixture
def monitoring(tmp_path):
    state = tmp_path / "monitoring"
    env = dict(os.environ, KROND_MON_DIR=str(state))

    def up(*args):
        subprocess.run([str(MONITORING), "up", *args], env=env, check=True, timeout=120)
        urls = subprocess.run([str(MONITORING), "urls"], env=env, check=True, timeout=10,
                              capture_output=True, text=True).stdout
        return dict(line.split("=", 1) for line in urls.split())

    yield up
    subprocess.run([str(MONITORING), "down", "--keep"], env=env, timeout=60)
    for name in ("prometheus", "alertmanager"):
        log = state / f"{name}.log"
        if log.exists():
            print(f"----- {name} (last lines) -----")
            print("\n".join(log.read_text(errors="replace").splitlines()[-15:]))


def test_alerts_fire_and_resolve(env, webhook, monitoring, tmp_path):
    env.ensure_topics("alpha", "beta")
    jobs = env.write_jobs(HEALTHY_JOBS)
    ports = {name: free_port()
             for name in ("scheduler", "alpha-1", "alpha-2", "beta", "beta-retry")}

    def addr(name):
        return ["--metrics-addr", f"127.0.0.1:{ports[name]}"]

    def alpha_worker(n, generation):
        return env.worker("alpha", f"worker-alpha-{n}-{generation}", *addr(f"alpha-{n}"))

    alpha = [alpha_worker(1, 1), alpha_worker(2, 1)]
    env.worker("beta", "worker-beta", *addr("beta"))
    env.worker("beta", "worker-beta-retry", "--queue", "retry", *addr("beta-retry"))
    for p in env.procs:
        wait_until(lambda p=p: "consuming" in p.log() or not p.alive(), 30,
                   what=f"{p.name} to consume")
        assert p.alive(), p.log()
    scheduler = env.scheduler(jobs, "scheduler", *addr("scheduler"))

    def group(job, names, **labels):
        return {"targets": [f"127.0.0.1:{ports[n]}" for n in names],
                "labels": {"job": job, **labels}}
    targets = tmp_path / "targets.json"
    targets.write_text(json.dumps([
        group("krond-scheduler", ["scheduler"]),
        group("krond-worker", ["alpha-1", "alpha-2"], cluster="alpha", queue="main"),
        group("krond-worker", ["beta"], cluster="beta", queue="main"),
        group("krond-worker", ["beta-retry"], cluster="beta", queue="retry"),
    ]))
    urls = monitoring("--targets-file", str(targets), "--kafka-dir", os.environ["KROND_KAFKA_DIR"],
                      "--interval", "1s", "--time-scale", "60", "--webhook-url", webhook.url,
                      "--group-wait", "1s", "--group-interval", "2s", "--repeat-interval", "1h")
    prom = Prometheus(urls["PROMETHEUS_URL"])
    alpha_topic = env.topic("tasks", "alpha")

    def krond_targets_up():
        rs = prom.query('up{job=~"krond-.*"} == 1')
        return len(rs) == len(ports)
    wait_until(krond_targets_up, 30, what="every krond target scraped")
    bytes_out = f'kafka_server_brokertopicmetrics_bytesout_total{{topic="{alpha_topic}"}}'
    wait_until(lambda: prom.query(bytes_out), 30, what="Kafka JMX metrics of the alpha task topic")

    # --- 1. healthy ----------------------------------------------------------------------
    wait_until(lambda: webhook.status("Watchdog") == "firing", 30,
               what="the Watchdog at the webhook")
    # Rules scaled to seconds can see a target before its first scrape (`for: 2s` is shorter
    # than a slow first scrape): what fired before everything was scraped does not count.
    healthy_from = time.monotonic() + 2
    time.sleep(12)  # longer than every scaled window and `for`: a false alarm would show
    ours = {"alpha", "beta"}

    def our_alerts(status="firing"):
        bad = []
        with webhook.lock:
            for t, st, lab in webhook.events:
                if t < healthy_from or st != status or lab["alertname"] == "Watchdog":
                    continue
                if lab.get("cluster") in ours or lab.get("topic", "").startswith(env.prefix + "."):
                    bad.append(lab)
                elif lab["alertname"] == "KrondRunsNotFired":
                    bad.append(lab)  # our scheduler is the only one this Prometheus sees
        return bad
    assert our_alerts() == [], f"alerts while healthy: {our_alerts()}"

    # --- 2. break: alpha loses all its workers, beta gets a job that always fails --------
    broken_at = time.monotonic()
    for w in alpha:
        w.stop()
    jobs.write_text(HEALTHY_JOBS + FAILING_JOB)
    scheduler.popen.send_signal(signal.SIGHUP)

    expected = [
        ("KrondTasksNotConsumed", {"topic": alpha_topic}),
        ("KrondTargetDown", {"instance": f"127.0.0.1:{ports['alpha-1']}", "cluster": "alpha"}),
        ("KrondTargetDown", {"instance": f"127.0.0.1:{ports['alpha-2']}", "cluster": "alpha"}),
        ("KrondRunsFailing", {"cluster": "beta"}),
        ("KrondRunsDeadLettered", {"cluster": "beta", "reason": "exhausted"}),
    ]
    for name, labels in expected:
        wait_until(lambda: webhook.status(name, broken_at, **labels) == "firing",
                   ALERT_TIMEOUT - (time.monotonic() - broken_at),
                   what=f"{name} {labels} firing (got so far: {webhook.names()})")
    fired = webhook.matching("KrondTasksNotConsumed", broken_at, topic=alpha_topic)[0][2]
    assert fired["severity"] == "critical"
    print(f"all expected alerts fired {time.monotonic() - broken_at:.0f}s after the breakage")
    # Only the broken parts alert: nothing about beta's topics or alpha's outcomes.
    for lab in our_alerts():
        assert not (lab["alertname"] == "KrondTasksNotConsumed"
                    and lab["topic"] != alpha_topic), lab
        assert not (lab["alertname"] in ("KrondRunsFailing", "KrondRunsDeadLettered")
                    and lab["cluster"] != "beta"), lab
        assert lab["alertname"] != "KrondRunsNotFired", lab

    # --- 3. fix: alpha workers back on the same ports, failing job removed ----------------
    fixed_at = time.monotonic()
    alpha = [alpha_worker(1, 2), alpha_worker(2, 2)]
    jobs.write_text(HEALTHY_JOBS)
    scheduler.popen.send_signal(signal.SIGHUP)
    for name, labels in expected:
        wait_until(lambda: webhook.status(name, fixed_at, **labels) == "resolved",
                   ALERT_TIMEOUT - (time.monotonic() - fixed_at),
                   what=f"{name} {labels} resolved")
    print(f"all resolved {time.monotonic() - fixed_at:.0f}s after the fix")
    assert scheduler.alive() and all(w.alive() for w in alpha)

    # --- 4. every rule and panel expression against the running Prometheus ---------------
    problems = []
    panels, variables = dashboard_expressions()
    names = set()
    for alert, expr in alert_expressions().items():
        names |= metric_names(expr)
        try:
            prom.query(expr)
        except AssertionError as e:
            problems.append(f"alert {alert}: {e}")
    for title, expr in panels:
        names |= metric_names(expr)
        try:
            if not prom.query(expr):
                problems.append(f"panel {title!r} returns no data: {expr}")
        except AssertionError as e:
            problems.append(f"panel {title!r}: {e}")
    for definition in variables:
        m = re.fullmatch(r"label_values\((\w+),\s*(\w+)\)", definition)
        assert m, definition
        values = {r["metric"].get(m.group(2)) for r in prom.query(m.group(1))}
        if not ours <= values:
            problems.append(f"variable {definition} gives {values}")
    for name in sorted(names):
        if not prom.query(f"count({name})"):
            problems.append(f"metric {name} (used by a rule or panel) has no series")
    assert not problems, "\n".join(problems)
