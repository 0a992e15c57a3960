"""The web console end to end in a real headless browser (issue 17): Debian's Chromium driven
by Playwright, against a real broker, scheduler, worker and `krond console`. Signs in as an
operator and as a viewer, uses every page, runs axe-core on each, and writes a screenshot of
each page into $KROND_SCREENSHOTS (default <build>/console-screenshots)."""
import os
import re
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect

from conftest import Env, wait_until
from krond_browser import axe_violations, chromium, sign_in
from krond_testlib import api, kafka_local, krond_bin, served_url, write_auth_file
from test_console import JOBS as CONSOLE_JOBS, OPERATOR, VIEWER, tasks_of

XSS = "<script>alert(1)</script><img src=x onerror=alert(2)>"
# test_console's jobs (tick every second; yearly, New York; broken, which fails its first run
# only) and one whose output is markup.
JOBS = CONSOLE_JOBS + f"""  - name: xss
    schedule: "0 0 1 1 *"
    cluster: c
    command: "echo '{XSS}'"
"""


class Stack:
    def __init__(self, env, url, context, shots):
        self.env, self.url, self.context, self.shots = env, url, context, shots

    def page(self, token=OPERATOR):
        """A new tab (its own sessionStorage) signed in with `token`; dialogs it opens are
        recorded in page.dialogs and dismissed."""
        page = self.context.new_page()
        page.dialogs = []
        page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
        sign_in(page, self.url, token)
        return page

    def shot(self, page, name):
        page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)

    def run_of(self, job, run_id):
        status, run = api(self.url, "GET", f"/api/v1/runs/{run_id}", VIEWER)
        return run if status == 200 and run["status"] not in ("pending", "retrying") else None


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    shots = Path(os.environ.get("KROND_SCREENSHOTS",
                                Path(krond_bin()).resolve().parent / "console-screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    env = Env(tmp_path_factory.mktemp("browser"))
    try:
        env.ensure_topics("c")
        env.worker("c", "worker")
        env.scheduler(env.write_jobs(JOBS.replace("FIXED", str(env.tmp / "fixed"))))
        auth = write_auth_file(env.tmp / "auth.txt", {"olga": ("operator", OPERATOR),
                                                      "vic": ("viewer", VIEWER)})
        console = env.start("console", "console", "--listen", "127.0.0.1:0", "--db",
                            str(env.tmp / "console.db"), "--auth-file", str(auth),
                            "--grafana-url", "http://127.0.0.1:3000/d/krond/krond",
                            "--prometheus-url", "http://127.0.0.1:9090", *env.kafka_args())
        url = wait_until(lambda: served_url(console.log()), 30, what="the console's address")
        wait_until(lambda: api(url, "GET", "/api/v1/jobs", VIEWER)[1].get("total") == 4, 60,
                   what="the four jobs in the console's catalog")
        # History to show: a run whose output is markup, and a dead letter.
        for job in ("xss", "broken"):
            status, body = api(url, "POST", f"/api/v1/jobs/{job}/run", OPERATOR)
            assert status == 202, body
        with chromium() as context:
            yield Stack(env, url, context, shots)
    finally:
        env.close()
        for p in env.procs:
            if p.popen.returncode not in (0, None):
                print(f"----- {p.name} (exit {p.popen.returncode}) -----\n" +
                      "\n".join(p.log().splitlines()[-30:]))


def assert_accessible(page, what):
    violations = axe_violations(page)
    assert violations == [], f"axe-core on the {what}: {violations}"


def test_sign_in_page_is_accessible_and_refuses_a_bad_token(stack):
    page = stack.context.new_page()
    page.goto(stack.url + "/")
    page.get_by_label("API token").wait_for()
    assert_accessible(page, "sign-in page")
    page.get_by_label("API token").fill("not-a-token")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("alert").filter(has_text="Not signed in or the token is not valid").wait_for()
    stack.shot(page, "signin")
    page.close()


def test_jobs_page_lists_the_jobs(stack):
    page = stack.page()
    header = page.locator("header .who")
    assert "olga" in header.inner_text() and "operator" in header.inner_text()
    rows = page.locator("table.jobs tbody tr")
    rows.filter(has_text="tick").wait_for()
    names = [n.strip() for n in page.locator("table.jobs tbody th a").all_inner_texts()]
    assert names == ["broken", "tick", "xss", "yearly"], names
    assert "Jobs 1–4 of 4" in page.locator(".count").inner_text()
    yearly = rows.filter(has_text="yearly")
    assert "at 00:00, on day 1 of the month, in January, America/New_York" in yearly.inner_text()
    assert "(America/New_York)" in yearly.inner_text()  # next run in the job's zone too
    # tick's outcomes: the page refreshes itself every 10 s.
    rows.filter(has_text="tick").locator(".badge", has_text="succeeded").wait_for(timeout=30_000)
    assert rows.filter(has_text="tick").locator("ol.strip li").count() >= 1
    # Search and filter are done by the server.
    page.get_by_label("Name contains").fill("ye")
    expect(page.locator("table.jobs tbody tr")).to_have_count(1)
    assert page.locator("table.jobs tbody th a").all_inner_texts() == ["yearly"]
    assert "name=ye" in page.url
    page.get_by_label("Name contains").fill("")
    expect(page.locator("table.jobs tbody tr")).to_have_count(4)
    page.locator("table.jobs tbody tr").filter(has_text="broken").locator(
        ".badge", has_text="failed").wait_for(timeout=30_000)
    stack.shot(page, "jobs")
    assert_accessible(page, "jobs page")
    page.get_by_label("Last outcome").select_option("failed")
    expect(page.locator("table.jobs tbody tr")).to_have_count(1)
    assert page.locator("table.jobs tbody th a").all_inner_texts() == ["broken"]
    page.close()


def test_a_run_appears_in_the_live_feed(stack):
    page = stack.page()
    page.get_by_role("link", name="Runs").click()
    page.get_by_text("Live: connected.").wait_for()
    page.locator("table.feed tbody tr").filter(has_text="tick").first.wait_for(timeout=20_000)
    assert page.locator("table.feed tbody tr").first.locator(".badge").inner_text() in (
        "succeeded", "failed")
    page.get_by_label("Show").select_option("failed")
    page.get_by_label("Show").select_option("")
    stack.shot(page, "runs")
    assert_accessible(page, "runs page")
    page.close()


def test_run_now_produces_a_run_in_the_history(stack):
    page = stack.page()
    page.goto(stack.url + "/#/jobs/yearly")
    page.get_by_role("heading", name="yearly").wait_for()
    assert page.locator("h2#next-fires").inner_text() == "Next 10 fire times"
    page.get_by_role("button", name="Run now").click()
    dialog = page.get_by_role("dialog")
    assert "Run yearly now?" in dialog.inner_text()
    assert_accessible(page, "run-now dialog")
    dialog.get_by_role("button", name="Run now").click()
    status = page.locator(".actions [role=status]")
    status.filter(has_text="requested by olga").wait_for()
    run_id = re.search(r"Run (\S+) requested", status.inner_text()).group(1)
    # The page refreshes from the live feed when the job's result arrives.
    history = page.locator("table.runs tbody")
    history.locator("tr", has_text=run_id).locator(".badge", has_text="succeeded").wait_for(
        timeout=30_000)
    row = history.locator("tr", has_text=run_id).first
    assert "manual by olga" in row.inner_text()
    row.get_by_role("button").click()
    assert page.locator("table.runs pre.output").first.inner_text() == f"manual {run_id}\n"
    stack.shot(page, "job")
    assert_accessible(page, "job page")
    page.close()


def test_pause_stops_the_job_and_resume_restarts_it(stack):
    env = stack.env
    page = stack.page()
    page.goto(stack.url + "/#/jobs/tick")
    page.get_by_role("heading", name="tick").wait_for()
    page.get_by_role("button", name="Pause…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Reason (kept in the audit trail)").fill("database maintenance")
    dialog.get_by_role("button", name="Pause").click()
    page.locator(".actions [role=status]").filter(has_text="Paused by olga").wait_for()
    page.locator("p.warning", has_text="Paused by olga").wait_for()
    page.locator("section[aria-labelledby=audit] tr",
                 has_text="database maintenance").wait_for()
    time.sleep(2)  # fires already on their way when the scheduler read the pause
    fired = len(tasks_of(env, "tick"))
    time.sleep(3)
    assert len(tasks_of(env, "tick")) == fired, "a paused job fired"
    stack.shot(page, "job-paused")
    page.get_by_role("button", name="Resume").click()
    page.get_by_role("dialog").get_by_role("button", name="Resume").click()
    page.locator(".actions [role=status]").filter(has_text="Resumed by olga").wait_for()
    wait_until(lambda: len(tasks_of(env, "tick")) >= fired + 2, 30,
               what="tick firing again after resume")
    page.get_by_role("button", name="Pause…").wait_for()
    page.close()


def test_a_viewer_sees_no_actions_and_a_forged_post_is_refused(stack):
    page = stack.page(VIEWER)
    header = page.locator("header .who").inner_text()
    assert "vic" in header and "viewer" in header
    page.goto(stack.url + "/#/jobs/yearly")
    page.get_by_role("heading", name="Definition").wait_for()
    assert page.get_by_role("button", name="Run now").count() == 0
    assert page.get_by_role("button", name=re.compile("Pause|Resume")).count() == 0
    page.goto(stack.url + "/#/dead")
    page.locator("table tbody tr", has_text="broken").first.wait_for(timeout=30_000)
    assert page.get_by_role("button", name=re.compile("Replay")).count() == 0
    before = len(tasks_of(stack.env, "yearly"))
    forged = page.evaluate("""async () => {
        const r = await fetch('/api/v1/jobs/yearly/run', {method: 'POST',
            headers: {Authorization: 'Bearer ' + sessionStorage.getItem('krond.token')}});
        return [r.status, (await r.json()).error];
    }""")
    assert forged[0] == 403 and "viewer" in forged[1], forged
    time.sleep(1)
    assert len(tasks_of(stack.env, "yearly")) == before
    page.close()


def test_output_and_commands_are_shown_as_text_and_run_nothing(stack):
    page = stack.page()
    csp = page.request.get(stack.url + "/").headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp, csp
    page.goto(stack.url + "/#/jobs/xss")
    page.get_by_role("heading", name="xss").wait_for()
    assert page.locator("code.command").inner_text() == f"echo '{XSS}'"
    run = page.locator("table.runs tbody tr").filter(has_text="succeeded").first
    run.wait_for(timeout=30_000)
    run.get_by_role("button").click()
    output = page.locator("table.runs pre.output").first
    assert output.inner_text() == XSS + "\n"
    assert output.locator("script, img").count() == 0
    page.wait_for_timeout(500)
    assert page.dialogs == [], page.dialogs
    assert page.evaluate("document.querySelectorAll('main script, main img').length") == 0
    stack.shot(page, "job-output")
    page.close()


def test_dead_letters_replay_and_cluster_health(stack):
    page = stack.page()
    page.goto(stack.url + "/#/dead")
    row = page.locator("table tbody tr", has_text="broken").first
    row.wait_for(timeout=30_000)
    assert "failed" in row.inner_text()
    stack.shot(page, "dead")
    assert_accessible(page, "dead letters page")
    row.get_by_role("button", name=re.compile("^Replay")).click()
    page.get_by_role("dialog").get_by_role("button", name="Replay").click()
    page.locator("[role=status]").filter(has_text="Replay of broken requested by olga").wait_for()
    page.locator("table tbody tr", has_text="broken").filter(has_text="by olga").wait_for()

    page.get_by_role("link", name="Clusters").click()
    cluster = page.locator("table tbody tr", has_text="c").first
    cluster.wait_for()
    assert page.get_by_role("link", name="Grafana dashboard").get_attribute("href") == \
        "http://127.0.0.1:3000/d/krond/krond"
    assert page.get_by_role("link", name="Prometheus alerts").get_attribute("href") == \
        "http://127.0.0.1:9090/alerts"
    assert "worker" in cluster.inner_text() or cluster.locator("td").nth(0).inner_text() != "0"
    stack.shot(page, "clusters")
    assert_accessible(page, "clusters page")
    page.close()


def test_a_banner_while_kafka_is_down_then_recovery(stack):
    """Kills the shared broker (the test is RESTARTS_BROKERS in CMakeLists.txt): the pages keep
    reading the history, actions fail with a clear message, a banner says why, and it goes
    away once the broker is back."""
    page = stack.page()
    page.goto(stack.url + "/#/jobs/yearly")
    page.get_by_role("heading", name="Definition").wait_for()
    banner = page.locator(".banner")
    assert banner.count() == 0
    kafka_local("kill-broker", "1")
    try:
        banner.filter(has_text="Kafka is unreachable").wait_for(timeout=30_000)
        page.get_by_role("button", name="Run now").click()
        page.get_by_role("dialog").get_by_role("button", name="Run now").click()
        page.locator(".actions [role=alert]").filter(
            has_text="Kafka or the history store is unavailable").wait_for(timeout=30_000)
        page.get_by_role("navigation", name="Main").get_by_role("link", name="Jobs").click()  # reads work
        page.locator("table.jobs tbody tr").filter(has_text="tick").wait_for()
        stack.shot(page, "kafka-down")
    finally:
        kafka_local("start-broker", "1")
    banner.wait_for(state="detached", timeout=60_000)
    page.close()
