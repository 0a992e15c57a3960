#!/usr/bin/env python3
"""Offline checks of krond's monitoring files that promtool and amtool do not make (run by
scripts/lint, section `monitoring`; tests/integration/test_alerting.py then runs every
expression against a real Prometheus):

- alerts.yml: every alert has a severity, a summary and a runbook_url ending in
  docs/runbooks/<alert>.md, and that runbook exists;
- alerts_test.yml: every alert has a firing and a not-firing case (Watchdog: firing only);
- Grafana dashboards (deploy/grafana/dashboards/*.json): valid JSON, unique panel ids, grid
  positions inside 24 columns, every panel on the provisioned datasource uid with at least
  one PromQL target, brackets and quotes balanced in every expression;
- every krond_* metric named by a rule or a panel is registered somewhere in src/ (a
  histogram's _bucket, _sum and _count included), so no panel shows a metric that does not
  exist.

Exit status 1 with one line per problem.
"""
import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
PROM = ROOT / "deploy" / "prometheus"
GRAFANA = ROOT / "deploy" / "grafana"
problems = []


def problem(msg):
    problems.append(msg)


def registered_metrics():
    names = set()
    for path in (ROOT / "src").rglob("*.cc"):
        text = path.read_text(errors="replace")
        for m in re.finditer(r'Add(Counter|Gauge|Histogram|CallbackGauge|BuildInfo)?\w*\(\s*"'
                             r'(krond_[a-z0-9_]+)"', text):
            names.add(m.group(2))
            if m.group(1) == "Histogram":
                names |= {m.group(2) + s for s in ("_bucket", "_sum", "_count")}
        names |= set(re.findall(r'"(krond_[a-z0-9_]+)"', text))
    names.add("krond_build_info")
    return names


def balanced(expr):
    pairs = {")": "(", "]": "[", "}": "{"}
    stack, quote, escaped = [], None, False
    for ch in expr:
        if quote:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == quote:
                quote = None
        elif ch in "\"'`":
            quote = ch
        elif ch in "([{":
            stack.append(ch)
        elif ch in ")]}":
            if not stack or stack.pop() != pairs[ch]:
                return False
    return not stack and quote is None


def check_expr(where, expr, known):
    if not expr.strip():
        problem(f"{where}: empty expression")
        return
    if not balanced(expr):
        problem(f"{where}: unbalanced brackets or quotes: {expr}")
    for name in re.findall(r"\b(krond_[a-zA-Z0-9_]+)\b", expr):
        if name not in known:
            problem(f"{where}: krond exports no metric {name}")


def check_rules(known):
    rules = yaml.safe_load((PROM / "alerts.yml").read_text())
    alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
    for r in alerts:
        name = r["alert"]
        check_expr(f"alerts.yml {name}", r["expr"], known)
        if r.get("labels", {}).get("severity") not in ("critical", "warning", "info", "none"):
            problem(f"alerts.yml {name}: severity label missing or unknown")
        ann = r.get("annotations", {})
        if not ann.get("summary"):
            problem(f"alerts.yml {name}: no summary annotation")
        url = ann.get("runbook_url", "")
        if not url.endswith(f"docs/runbooks/{name}.md"):
            problem(f"alerts.yml {name}: runbook_url {url!r} does not end in "
                    f"docs/runbooks/{name}.md")
        if not (ROOT / "docs" / "runbooks" / f"{name}.md").is_file():
            problem(f"alerts.yml {name}: docs/runbooks/{name}.md does not exist")

    tests = yaml.safe_load((PROM / "alerts_test.yml").read_text())["tests"]
    firing, quiet = set(), set()
    for t in tests:
        for case in t.get("alert_rule_test", []):
            (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    for r in alerts:
        name = r["alert"]
        if name not in firing:
            problem(f"alerts_test.yml: no case where {name} fires")
        if name not in quiet and name != "Watchdog":
            problem(f"alerts_test.yml: no case where {name} does not fire")


def check_dashboards(known):
    ds = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml")
                        .read_text())
    uids = {d["uid"] for d in ds["datasources"]}
    dashboards = sorted((GRAFANA / "dashboards").glob("*.json"))
    if not dashboards:
        problem("deploy/grafana/dashboards: no dashboard")
    for path in dashboards:
        rel = path.relative_to(ROOT)
        try:
            dash = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            problem(f"{rel}: {e}")
            continue
        for key in ("uid", "title", "panels"):
            if key not in dash:
                problem(f"{rel}: no {key}")
        ids = set()

        def walk(panels):
            for p in panels:
                where = f"{rel} panel {p.get('title')!r}"
                if p.get("id") in ids:
                    problem(f"{where}: duplicate id {p.get('id')}")
                ids.add(p.get("id"))
                g = p.get("gridPos", {})
                if not all(isinstance(g.get(k), int) for k in "hwxy") or g["x"] + g["w"] > 24:
                    problem(f"{where}: bad gridPos {g}")
                walk(p.get("panels", []))
                if p.get("type") == "row":
                    continue
                if p.get("datasource", {}).get("uid") not in uids:
                    problem(f"{where}: datasource {p.get('datasource')} is not provisioned "
                            f"({sorted(uids)})")
                targets = p.get("targets", [])
                if not targets:
                    problem(f"{where}: no query")
                if len({t.get("refId") for t in targets}) != len(targets):
                    problem(f"{where}: duplicate refId")
                for t in targets:
                    check_expr(where, t.get("expr", ""), known)
        walk(dash.get("panels", []))
        for v in dash.get("templating", {}).get("list", []):
            if v.get("type") == "query":
                check_expr(f"{rel} variable {v.get('name')}", v.get("definition", ""), known)


def main():
    known = registered_metrics()
    check_rules(known)
    check_dashboards(known)
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
