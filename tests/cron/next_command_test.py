#!/usr/bin/env python3
"""Runs `krond next` as a user would and checks its exact output and exit codes.

Usage: next_command_test.py PATH_TO_KROND
"""
import subprocess
import sys

KROND = sys.argv[1]
failures = []


def run(*args):
    proc = subprocess.run([KROND, "next", *args], capture_output=True, text=True, timeout=30)
    return proc.returncode, proc.stdout, proc.stderr


def expect(args, code, stdout=None, stderr=None):
    got_code, got_out, got_err = run(*args)
    problems = []
    if got_code != code:
        problems.append(f"exit {got_code}, want {code}")
    if stdout is not None and got_out != stdout:
        problems.append(f"stdout {got_out!r}, want {stdout!r}")
    if stderr is not None and got_err != stderr:
        problems.append(f"stderr {got_err!r}, want {stderr!r}")
    if problems:
        failures.append(f"krond next {' '.join(args)}: " + "; ".join(problems))


# Spring forward in New York: 02:00 does not exist on 2026-03-08, a fixed-time run fires at
# the first instant after the gap.
expect(["--tz", "America/New_York", "--from", "2026-03-08T00:00:00-05:00", "-n", "2",
        "0 2 * * *"], 0,
       "2026-03-08T03:00:00-04:00\n2026-03-09T02:00:00-04:00\n", "")
# Fall back: wildcard runs fire at both 01:30s.
expect(["--tz", "America/New_York", "--from", "2026-11-01T00:00:00-04:00", "-n", "3",
        "30 * * * *"], 0,
       "2026-11-01T00:30:00-04:00\n2026-11-01T01:30:00-04:00\n2026-11-01T01:30:00-05:00\n", "")
# Default count is 5; default zone is UTC.
expect(["--from", "2026-01-01T00:00:00Z", "*/5 * * * *"], 0,
       "".join(f"2026-01-01T00:{m:02d}:00Z\n" for m in (5, 10, 15, 20, 25)), "")
# A CRON_TZ prefix beats --tz.
expect(["--tz", "Asia/Tokyo", "--from", "2026-07-01T00:00:00Z", "-n", "1",
        "CRON_TZ=Europe/London 0 9 * * *"], 0, "2026-07-01T09:00:00+01:00\n", "")
# @every is anchored at --from.
expect(["--from", "2026-01-01T00:00:10Z", "-n", "2", "@every 90m"], 0,
       "2026-01-01T01:30:10Z\n2026-01-01T03:00:10Z\n", "")
# Without --from it starts now: just check the shape.
code, out, _ = run("-n", "3", "@hourly")
if code != 0 or len(out.splitlines()) != 3 or not all(l.endswith(":00:00Z") for l in out.splitlines()):
    failures.append(f"krond next -n 3 @hourly: exit {code}, stdout {out!r}")

# Bad input: exit 2 and one clear line on stderr.
expect(["61 * * * *"], 2, "", 'krond next: "61 * * * *": minute field: 61 is out of range 0-59\n')
expect(["0 0 30 2 *"], 2, "",
       'krond next: "0 0 30 2 *": schedule never fires: day-of-month "30" does not occur in '
       'month "2"\n')
expect(["--tz", "Mars/Olympus", "* * * * *"], 2, "",
       'krond next: unknown time zone "Mars/Olympus" (use an IANA name such as Europe/Dublin '
       'or UTC)\n')
expect(["--from", "tomorrow", "* * * * *"], 2, "",
       'krond next: --from: "tomorrow" is not an RFC 3339 time (e.g. 2026-03-08T03:00:00Z)\n')

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok")
