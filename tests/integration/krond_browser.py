"""A real headless browser for krond's web console tests and benchmark: Debian's Chromium
driven by Playwright for Python (pinned in var/tools-venv by scripts/setup-deps; Playwright's
own browser download is never used).

    from krond_browser import chromium, axe_violations, sign_in

    with chromium() as context:
        page = context.new_page()
        sign_in(page, console_url, token)
        assert axe_violations(page) == []

Environment:
    KROND_CHROMIUM     the browser (default /usr/bin/chromium)
    KROND_AXE          axe.min.js (default: axe-core from the build's npm install,
                       <build>/web/node_modules/axe-core/axe.min.js, next to KROND_BIN)
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from krond_testlib import krond_bin

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@contextlib.contextmanager
def chromium(viewport: tuple[int, int] = (1400, 900)) -> Iterator["BrowserContext"]:
    """A Chromium context with a fresh profile (deleted afterwards); closed on leaving."""
    from playwright.sync_api import sync_playwright
    profile = tempfile.mkdtemp(prefix="krond-chromium-")
    try:
        with sync_playwright() as p:
            context = p.chromium.launch_persistent_context(
                profile, executable_path=os.environ.get("KROND_CHROMIUM", "/usr/bin/chromium"),
                headless=True, args=CHROMIUM_ARGS,
                viewport={"width": viewport[0], "height": viewport[1]})
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def axe_source() -> str:
    path = os.environ.get("KROND_AXE") or str(
        Path(krond_bin()).resolve().parent / "web" / "node_modules" / "axe-core" / "axe.min.js")
    return Path(path).read_text()


def axe_violations(page, impacts=("serious", "critical")) -> list[dict]:
    """axe-core's violations of the page as it is now, of the given impacts: [{id, impact,
    help, targets}]. axe is evaluated through the DevTools protocol, which the page's
    Content-Security-Policy does not apply to, so the CSP stays on while it checks."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(axe_source() + "\n;undefined")
    result = page.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                       targets: v.nodes.map(n => n.target.join(' '))}));
    }""")
    return [v for v in result if v["impact"] in impacts]


def sign_in(page, url: str, token: str) -> None:
    """Opens the console at `url` and signs in with `token` through the sign-in form."""
    page.goto(url + "/")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("navigation", name="Main", exact=True).wait_for()
