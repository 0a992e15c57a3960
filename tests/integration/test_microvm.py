"""`sandbox: microvm` on a real broker and a real worker (issue 21): each run boots a QEMU
microvm guest from var/microvm (scripts/microvm-image, built by the microvm_image ctest
fixture). Under TCG, the fallback where KVM does not work (this CI host), a boot takes 2-5 s,
so the runs of a test share one worker and run two at a time."""
import json
import os
import urllib.request
import uuid
from pathlib import Path

from conftest import ROOT, wait_until
from krond_testlib import free_port

CLUSTER = "vm"
IMAGE = os.environ.get("KROND_MICROVM_IMAGE", str(ROOT / "var/microvm"))


def submit(env, command, timeout_ms=60000, **fields):
    run_id = "vm-" + uuid.uuid4().hex[:8]
    task = {"v": 1, "run_id": run_id, "job": run_id, "cluster": CLUSTER, "command": command,
            "scheduled_at": "2026-01-01T00:00:00.000Z", "attempt": 1, "max_attempts": 1,
            "timeout_ms": timeout_ms, "sandbox": "microvm", **fields}
    env.produce_raw(env.topic("tasks", CLUSTER), run_id, json.dumps(task))
    return run_id


def results(env):
    return {r["run_id"]: r for r in env.read(env.topic("results"))}


def result_of(env, run_id, timeout=90):
    return wait_until(lambda: results(env).get(run_id), timeout, interval=0.5,
                      what=f"result of {run_id}")


def start_worker(env, *flags):
    env.ensure_topics(CLUSTER)
    w = env.worker(CLUSTER, None, "--microvm-image", IMAGE, *flags)
    wait_until(lambda: "assigned" in w.log(), 30, what="worker assignment")
    return w


def qemu_descendants(pid):
    """QEMU processes still running below the worker `pid` (directly, or under the network
    wrapper)."""
    parents = {}
    qemus = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        parents[int(entry)] = int(fields[1])
        if stat[stat.index("(") + 1:stat.rindex(")")].startswith("qemu") and fields[0] != "Z":
            qemus.append(int(entry))
    found = []
    for q in qemus:
        p, hops = q, 0
        while p in parents and p > 1 and hops < 5:
            p, hops = parents[p], hops + 1
            if p == pid:
                found.append(q)
                break
    return found


def test_job_file_microvm_job_runs_in_its_own_kernel_and_reports_the_vm(env):
    jobs = env.write_jobs(f"""clusters: [{CLUSTER}]
jobs:
  - name: in-a-vm
    schedule: "@every 3s"
    cluster: {CLUSTER}
    command: "echo hello from $(uname -r); grep MemTotal /proc/meminfo; nproc"
    sandbox: microvm
    microvm: {{memory: 192MiB, vcpus: 2}}
""")
    port = free_port()
    w = start_worker(env, "--metrics-addr", f"127.0.0.1:{port}")
    scheduler = env.scheduler(jobs)
    # One fire is enough: each run boots a VM.
    wait_until(lambda: env.read(env.topic("tasks", CLUSTER)), 30, what="the first fire")
    scheduler.stop()
    r = wait_until(lambda: [x for x in env.read(env.topic("results")) if x["job"] == "in-a-vm"],
                   120, interval=0.5, what="the job's result")[0]
    assert r["outcome"] == "succeeded", r
    assert "hello from 6." in r["output_tail"] and "cloud-amd64" in r["output_tail"]
    assert os.uname().release not in r["output_tail"]  # not the host's kernel
    mem_kib = int(r["output_tail"].split("MemTotal:")[1].split()[0])
    assert 100 * 1024 < mem_kib <= 192 * 1024, r["output_tail"]
    assert r["output_tail"].rstrip().endswith("2"), r["output_tail"]  # vcpus
    assert r["vm"]["accelerator"] in ("kvm", "tcg") and r["vm"]["boot_ms"] > 0, r
    accelerator = r["vm"]["accelerator"]
    assert f"microVMs use {accelerator}:" in w.log()
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    assert f'krond_worker_microvm_accelerator{{accelerator="{accelerator}"}} 1' in metrics
    assert f'krond_worker_microvm_boot_seconds_count{{accelerator="{accelerator}"}} 1' in metrics
    print(f"accelerator {accelerator}, boot {r['vm']['boot_ms']} ms")


def test_vm_isolates_files_network_time_and_memory_from_the_worker(env, tmp_path):
    port = free_port()
    w = start_worker(env, "--slots", "2", "--kill-grace", "1s", "--metrics-addr",
                     f"127.0.0.1:{port}")
    secret = tmp_path / "host-secret"
    secret.write_text("do not read\n")
    # 10.0.2.2 is where QEMU's user-mode network would map the host's 127.0.0.1.
    # (busybox 1.35's `wget -T` crashes here.)
    reach = (f"wget -O /tmp/m http://10.0.2.2:{port}/metrics && echo REACHED; "
             f"wget -O /tmp/m http://127.0.0.1:{port}/metrics && echo REACHED; exit 1")
    runs = {
        "file": submit(env, f"cat {secret}"),
        "offline": submit(env, reach),
        "online": submit(env, reach, network=True),
        "sleeper": submit(env, "echo sleeping; sleep 600", timeout_ms=15000),
        "hog": submit(env, "tail /dev/zero; echo tail ended $?",
                      microvm={"memory_mib": 96, "vcpus": 1}),
    }
    got = {name: result_of(env, run_id, timeout=150) for name, run_id in runs.items()}

    assert got["file"]["outcome"] == "failed", got["file"]
    assert "No such file or directory" in got["file"]["output_tail"]
    assert "do not read" not in got["file"]["output_tail"]

    for name in ("offline", "online"):
        r = got[name]
        assert r["outcome"] == "failed" and r["exit_code"] == 1, r
        assert "REACHED" not in r["output_tail"] and "krond_worker" not in r["output_tail"], r
        # Both probes ran and failed to connect (rather than crash).
        assert r["output_tail"].count("wget: can't connect to remote host") == 2, r
    # Without network the guest has no route at all; with it, 10.0.2.2 answers through QEMU's
    # user-mode NIC, but from the VM's own network namespace, whose loopback is empty.
    assert "(10.0.2.2): Network is unreachable" in got["offline"]["output_tail"], got["offline"]
    assert "(10.0.2.2): Connection refused" in got["online"]["output_tail"], got["online"]

    sleeper = got["sleeper"]
    assert sleeper["outcome"] == "timed_out", sleeper
    assert "sleeping" in sleeper["output_tail"]
    assert "timed out after 15000ms" in sleeper["error"]

    hog = got["hog"]
    # The guest kernel's OOM killer ended `tail` (SIGKILL, 137); the worker never noticed.
    assert hog["outcome"] == "succeeded" and "tail ended 137" in hog["output_tail"], hog
    assert w.alive()
    assert urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5).status == 200
    wait_until(lambda: not qemu_descendants(w.popen.pid), 10, what="no VM left running")


def test_a_vm_that_cannot_boot_is_boot_failed_and_retried(env, tmp_path):
    broken = tmp_path / "broken-image"
    broken.mkdir()
    (broken / "vmlinuz").write_bytes(b"not a kernel\n" * 100)
    (broken / "initrd.img").write_bytes(Path(IMAGE, "initrd.img").read_bytes())
    env.ensure_topics(CLUSTER)
    w = env.worker(CLUSTER, None, "--microvm-image", str(broken), "--sandbox", "microvm",
                   "--microvm-accelerator", "tcg")
    wait_until(lambda: "assigned" in w.log(), 30, what="worker assignment")
    run_id = submit(env, "echo never", max_attempts=2, sandbox="none",
                    retry={"backoff_ms": 60000, "retry_on": []})
    r = result_of(env, run_id, timeout=60)
    assert r["outcome"] == "boot_failed", r
    assert "the VM stopped before starting the command" in r["error"], r
    assert r["vm"] == {"accelerator": "tcg"}, r
    retry = wait_until(lambda: env.read(env.topic("retry", CLUSTER)), 30, what="the retry")
    assert retry[0]["run_id"] == run_id and retry[0]["attempt"] == 2


def test_a_killed_workers_vm_dies_with_it(env):
    """QEMU runs under krond-guard like any command (issue 19): a worker SIGKILLed mid-run
    takes its VMs with it, so the redelivered run never runs beside the first."""
    w = start_worker(env)
    submit(env, "echo up; sleep 600", timeout_ms=600000)
    qemus = wait_until(lambda: qemu_descendants(w.popen.pid), 60, interval=0.2,
                       what="the run's VM")

    def alive(pid):
        try:
            return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
        except OSError:
            return False

    w.popen.kill()  # the worker alone, as the OOM killer would
    w.popen.wait(10)
    wait_until(lambda: not any(alive(q) for q in qemus), 1.0, interval=0.05,
               what=f"the VM {qemus} to die with its worker")
