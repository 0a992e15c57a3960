#!/usr/bin/env python3
"""End-to-end check of `krond validate`: exit codes and the exact output a user sees.

Usage: validate_cli_test.py KROND_BINARY   (run from the source root, as ctest does)
"""
import subprocess
import sys

GOOD = "examples/jobs.yaml"
BAD = "tests/config/testdata/bad_jobs.yaml"
BAD_EXPECTED = "tests/config/testdata/bad_jobs.expected"


def run(krond, *args):
    return subprocess.run([krond, "validate", *args], capture_output=True, text=True, timeout=30)


def main():
    krond = sys.argv[1]
    failures = []

    good = run(krond, GOOD)
    if good.returncode != 0 or good.stderr:
        failures.append(f"{GOOD}: want exit 0 and no stderr, got {good.returncode}:\n{good.stderr}")
    want = f"{GOOD}: OK, 6 jobs on 2 clusters (cluster-a: 3, cluster-b: 3)\n"
    if good.stdout != want:
        failures.append(f"{GOOD}: want stdout {want!r}, got {good.stdout!r}")

    bad = run(krond, BAD)
    with open(BAD_EXPECTED) as f:
        want_lines = f.read().splitlines()
    got_lines = bad.stderr.splitlines()
    if bad.returncode != 1:
        failures.append(f"{BAD}: want exit 1, got {bad.returncode}")
    if bad.stdout:
        failures.append(f"{BAD}: want empty stdout, got {bad.stdout!r}")
    if got_lines != want_lines:
        diff = "\n".join(f"  want: {w}\n  got:  {g}" for w, g in
                         zip(want_lines + [""] * len(got_lines), got_lines + [""] * len(want_lines))
                         if w != g)
        failures.append(f"{BAD}: stderr differs from {BAD_EXPECTED}:\n{diff}")

    missing = run(krond, "tests/config/testdata/does-not-exist.yaml")
    if missing.returncode != 1 or "cannot open" not in missing.stderr:
        failures.append(f"missing file: want exit 1 and 'cannot open', got {missing.returncode}: "
                        f"{missing.stderr!r}")

    for failure in failures:
        print("FAIL", failure, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
