"""SIGTERM to the scheduler while Kafka is unreachable (issue 19): it exits within its
--shutdown-timeout, logs what it could not commit, and the next scheduler fires it through
its catch-up. Kills and restarts the shared test broker (ctest resource lock `kafka-broker`)."""
import re
import subprocess
import time

from conftest import ROOT, wait_until
from test_ha import by_job, duplicates, every_second, gaps, takeovers


def kafka_local(*args):
    subprocess.run([str(ROOT / "scripts/kafka-local"), *args], check=True, timeout=180)


def test_sigterm_with_the_broker_down_exits_in_time_and_loses_nothing(env):
    jobs = env.write_jobs(every_second("all"))
    env.ensure_topics("c")
    sched = env.scheduler(jobs, "sched-1", "--shutdown-timeout", "3s")
    wait_until(lambda: takeovers(sched) > 0, 60, what="active scheduler")
    wait_until(lambda: len(env.read(env.topic("tasks", "c"))) >= 3, 30, what="first fires")
    kafka_local("kill-broker", "1")
    try:
        time.sleep(3)  # fires fall due and cannot be committed
        stopping = time.monotonic()
        code = sched.stop(timeout=30)
        took = time.monotonic() - stopping
    finally:
        kafka_local("start-broker", "1")
    log = sched.log()
    left = re.search(r"could not commit (\d+) run\(s\) within 3000 ms \(([^)]*)", log)
    print(f"exit {code} {took:.1f}s after SIGTERM; {left.group(0) if left else 'nothing left'}")
    assert code == 0, log[-3000:]
    # The shutdown budget plus one blocking call (2 s) and the producer's 1 s purge.
    assert took < 3 + 2 + 1 + 1.5, took
    assert left and int(left.group(1)) >= 1, log[-3000:]

    # The next scheduler owes those runs to catch_up: all fires each once.
    sched = env.scheduler(jobs, "sched-2")
    wait_until(lambda: takeovers(sched) > 0, 90, what="active scheduler after the restart")
    time.sleep(3)
    sched.stop()
    times = by_job(env.read(env.topic("tasks", "c")))["all"]
    print(f"fired {len(times)}, duplicates {duplicates(times)}, gaps {gaps(times)}")
    assert not duplicates(times) and not gaps(times)
