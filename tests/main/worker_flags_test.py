#!/usr/bin/env python3
"""`krond worker` refuses a bad flag at once: exit 2 and a message naming the flag, before it
connects to Kafka (the brokers given here do not exist) or starts a process.

Usage: worker_flags_test.py KROND_BINARY
"""
import subprocess
import sys

# (extra flags, text the one error line must hold)
CASES = [
    (["--drain-timeout", "soon"], "--drain-timeout "),
    (["--kill-grace", "-5s"], "--kill-grace "),
    (["--control-wait", "10"], "--control-wait "),
    (["--clock-probe-interval", "often"], "--clock-probe-interval "),
    (["--limit-memory", "lots"], '--limit-memory: expected a size such as 512MiB, got "lots"'),
    (["--microvm-memory", "100KiB"],
     '--microvm-memory: expected a whole number of MiB, at least 64MiB, got "100KiB"'),
    (["--run-guard", "/nonexistent/krond-guard"],
     "--run-guard: /nonexistent/krond-guard is not an executable"),
    (["--run-as", "krond-no-such-user"], "--run-as: "),
    (["--run-guard", "none", "--run-as", "nobody"],
     "--run-as needs krond-guard, which switches the user (not --run-guard none)"),
]


def main():
    krond = sys.argv[1]
    failures = []
    for extra, want in CASES:
        args = [krond, "worker", "--cluster", "c", "--brokers", "127.0.0.1:1", *extra]
        out = subprocess.run(args, capture_output=True, text=True, timeout=20)
        logged = out.stdout + out.stderr
        errors = [line for line in logged.splitlines() if " error " in line]
        if out.returncode != 2 or len(errors) != 1 or want not in errors[0]:
            failures.append(f"{' '.join(extra)}: want exit 2 and one error line with {want!r}, "
                            f"got exit {out.returncode}:\n{logged}")
    for failure in failures:
        print(failure, file=sys.stderr)
    print(f"{len(CASES) - len(failures)}/{len(CASES)} refused as expected")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
