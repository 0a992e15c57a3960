"""The `kafka` ctest fixture works: the broker that scripts/kafka-local started answers, with
the settings the other integration tests rely on. Runs under pytest or as a plain script."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import krond_testlib as kt  # noqa: E402


def test_produce_and_consume_json_with_keys():
    topic = kt.unique_topic_prefix("smoke") + ".events"
    kt.create_topic(topic, partitions=2)
    sent = [("k1", {"n": 1, "text": "tab\there"}), ("k2", {"n": 2}), ("k1", {"n": 3})]
    kt.produce(topic, sent)
    got = kt.consume_all(topic)
    assert sorted((m.key, m.value["n"]) for m in got) == [("k1", 1), ("k1", 3), ("k2", 2)]
    assert next(m for m in got if m.value["n"] == 1).value["text"] == "tab\there"
    # Same key, same partition, in order.
    k1 = [m for m in got if m.key == "k1"]
    assert len({m.partition for m in k1}) == 1
    assert [m.value["n"] for m in sorted(k1, key=lambda m: m.offset)] == [1, 3]


def test_consumer_group_reads_every_partition():
    topic = kt.unique_topic_prefix("group") + ".events"
    kt.create_topic(topic, partitions=3)
    kt.produce(topic, [(f"key{i}", {"i": i}) for i in range(30)])
    out = kt.subprocess.run(
        ["kcat", "-b", kt.bootstrap(), "-G", f"{topic}.group", topic, "-o", "beginning", "-e",
         "-q", "-f", "%s\n"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.splitlines()) == 30


def test_topics_are_not_auto_created():
    missing = kt.unique_topic_prefix("missing") + ".nope"
    try:
        # librdkafka producers ask the broker to auto-create; the broker must refuse.
        kt.produce(missing, ["x"], config={"message.timeout.ms": "5000",
                                           "topic.metadata.propagation.max.ms": "2000"})
    except RuntimeError:
        pass
    else:
        raise AssertionError("producing to a missing topic succeeded: auto-create is on")
    assert not kt.topic_exists(missing)
    assert kt.consume_all(missing, missing_ok=True) == []


def test_jmx_exporter_counts_messages_per_topic():
    topic = kt.unique_topic_prefix("jmx") + ".events"
    kt.create_topic(topic, partitions=1)
    kt.produce(topic, [{"i": i} for i in range(5)])

    def messages_in():
        total = 0.0
        for url in kt.jmx_exporter_urls().values():
            text = kt.http_get(url)
            for labels, value in kt.metric_samples(
                    text, "kafka_server_brokertopicmetrics_messagesin_total"):
                if labels.get("topic") == topic:
                    total += value
        return total >= 5
    kt.wait_until(messages_in, 30, what=f"MessagesInPerSec for {topic} in the JMX exporter")
    text = kt.http_get(next(iter(kt.jmx_exporter_urls().values())))
    for name in ("kafka_server_replicamanager_underreplicatedpartitions",
                 "kafka_controller_kafkacontroller_activecontrollercount", "jvm_memory_used_bytes"):
        assert kt.metric_samples(text, name), f"{name} missing from the JMX exporter"


def test_process_helper_stops_what_it_started(tmp_path=None):
    with kt.run_process(["sh", "-c", "echo started; trap 'echo bye; exit 0' TERM; "
                         "while :; do sleep 0.1; done"], log_dir=tmp_path, name="sleeper") as p:
        p.wait_for_log("started", 10)
        assert p.alive()
    assert not p.alive()
    assert "bye" in p.log()


if __name__ == "__main__":
    passed = failed = 0
    for name, fn in sorted(globals().items()):
        if name.startswith("test_") and callable(fn):
            try:
                fn()
                passed += 1
                print(f"PASS {name}")
            except Exception as e:  # noqa: BLE001 - report every failure, then exit non-zero
                failed += 1
                print(f"FAIL {name}: {e!r}")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
