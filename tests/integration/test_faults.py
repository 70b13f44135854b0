"""Faults around the worker, with the shipped defaults: hostile input on the live topic, and an
InfluxDB outage. Each against the real services; a stopped service is a private instance."""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from streams.cli.live import keyed_messages
from streams.cli.live import partition_lag, publish_lines
from streams.formats.codec import decode_line, decode_lines
from streams.engine import DetectorConfig, Kind, Scope
from streams.offline.replay import replay
from streams.settings import InfluxSettings, KafkaSettings
from tests.integration.harness import Run, caught_up, free_port, published_ids, read_all, run, wait_until  # noqa: F401
from tests.integration.test_influx import TOKEN, influx_url, point_count, private_influx, services  # noqa: F401
from tests.integration.test_worker import expect_series_anomalies, stream  # noqa: F401

pytestmark = pytest.mark.integration

GOOD = b'{"platform":"x","account":"hostile","metric":"likes","value":%d,"ts":"2026-12-01T00:%02d:00Z"}'
#: (what, key, value, reason): every kind of poison the live topic may carry.
HOSTILE = [
    ("not JSON", b"k", b"not json at all", "not_json"),
    ("wrong types", b"k", b'{"platform":1,"account":"a","metric":"m","value":1,"ts":1795176000}', "bad_type"),
    ("negative count", b"k", b'{"platform":"x","account":"a","metric":"m","value":-5,"ts":1795176000}', "bad_value"),
    ("absurd count", b"k", b'{"platform":"x","account":"a","metric":"m","value":1e999,"ts":1795176000}', "not_json"),
    ("a count that is a string", b"k", b'{"platform":"x","account":"a","metric":"m","value":"12k","ts":1795176000}', "bad_type"),
    ("absurd time", b"k", b'{"platform":"x","account":"a","metric":"m","value":1,"ts":1e30}', "bad_time"),
    ("missing field", b"k", b'{"platform":"x","account":"a","value":1,"ts":1795176000}', "missing_field"),
    ("empty key", b"", b"7", "not_object"),
    ("tombstone", b"k", None, "no_value"),
    ("600 KB not UTF-8", b"k", b"\xff\xfe" * 300_000, "not_json"),
    ("2 MB", b"k", b"{" + b"x" * 2_000_000, "not_json"),
]


def dead_letters(kafka: KafkaSettings) -> list[tuple[bytes | None, dict[str, bytes]]]:
    """(value, headers) of every dead letter so far."""
    consumer = KafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, enable_auto_commit=False,
                             fetch_max_bytes=16 << 20, max_partition_fetch_bytes=16 << 20)  # fmt: skip
    try:
        parts = [TopicPartition(kafka.dead_letter_topic, p) for p in sorted(consumer.partitions_for_topic(kafka.dead_letter_topic) or ())]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends = consumer.end_offsets(parts)
        found = []
        while any(consumer.position(tp) < ends[tp] for tp in parts):
            for records in consumer.poll(timeout_ms=500).values():
                found.extend((r.value, dict(r.headers)) for r in records)
        return found
    finally:
        consumer.close()


def test_hostile_messages_go_to_the_dead_letters_byte_for_byte_and_the_worker_keeps_going(run: Run, stream) -> None:
    lines, expected = stream
    producer = KafkaProducer(bootstrap_servers=run.kafka.bootstrap_servers, acks="all", max_request_size=4 << 20)
    for _, key, value, _ in HOSTILE:
        producer.send(run.kafka.input_topic, key=key, value=value, partition=0)
    # A batch with good updates around a bad one: the good ones are decided, the bad one dead-lettered.
    mixed = b"[" + GOOD % (100, 0) + b', {"platform":"x"}, ' + GOOD % (101, 1) + b"]"
    producer.send(run.kafka.input_topic, key=b"x/hostile/likes", value=mixed, partition=0)
    producer.flush()
    producer.close()
    run.start_worker()
    publish_lines(run.kafka, lines, batch=1)
    assert set(expect_series_anomalies(run, expected)) == expected
    wait_until(run, lambda: len(dead_letters(run.kafka)) >= len(HOSTILE) + 1, "every dead letter")
    letters = dead_letters(run.kafka)
    limit = run.kafka.dead_letter_max_bytes
    for what, _, value, reason in HOSTILE:
        raw = value or b""
        matching = [(v, h) for v, h in letters if h["dipwatch-reason"] == reason.encode() and (v or b"") == raw[:limit]]
        assert matching, f"no dead letter for the {what} message"
        headers = matching[0][1]
        assert headers["dipwatch-source"].startswith(f"{run.kafka.input_topic}/0/".encode())
        assert headers["dipwatch-detail"]
        if len(raw) > limit:
            assert headers["dipwatch-truncated"] == str(len(raw)).encode()
        else:
            assert "dipwatch-truncated" not in headers
    assert any(h["dipwatch-reason"] == b"missing_field" and b'"platform":"x"' in (v or b"") for v, h in letters)
    assert run.workers[0].poll() is None


OUTAGE_S = 120.0  # the outage the issue describes: InfluxDB down for 2 minutes mid-stream


def test_an_influxdb_outage_delays_points_and_never_the_anomalies(
    run: Run, stream, private_influx: tuple[InfluxSettings, dict[str, str]]
) -> None:
    lines, expected = stream
    influx, env = private_influx
    run.start_worker(extra_env={
        "DIPWATCH_INFLUX__ENABLED": "true", "DIPWATCH_INFLUX__URL": influx.url,
        "DIPWATCH_INFLUX__TOKEN": TOKEN, "DIPWATCH_INFLUX__BUCKET": influx.bucket,
    })  # fmt: skip
    half = len(lines) // 2
    publish_lines(run.kafka, lines[:half], batch=10)
    wait_until(run, lambda: point_count(influx, "count", "value") > 0, "the first points in InfluxDB")
    services("down", "influxdb", env=env)
    stopped = time.monotonic()
    publish_lines(run.kafka, lines[half:], batch=10)
    # Anomalies go to Kafka at once, InfluxDB or not.
    published = expect_series_anomalies(run, expected)
    assert set(published) == expected and run.workers[0].poll() is None
    wait_until(run, lambda: "cannot be written" in run.logs(), "the worker to say InfluxDB is down")
    remaining_s = OUTAGE_S - (time.monotonic() - stopped)
    if remaining_s > 0:
        time.sleep(remaining_s)  # the fault's duration, not synchronisation
    assert run.workers[0].poll() is None, run.logs()
    services("up", "influxdb", env=env)
    all_ids = published_ids(run)
    wait_until(run, lambda: point_count(influx, "anomaly", "drop") == len(all_ids), "the anomaly points after the outage")
    unique_counts = len({(u.key, u.ts_ms) for u in decode_lines(lines)[0]})
    wait_until(run, lambda: point_count(influx, "count", "value") == unique_counts, "every count point")
    log = full_log(run)
    assert log.count("cannot be written") == 1 and log.count("is back after") == 1, log[-3000:]
    assert "dropped 0 while it was away" in log


def full_log(run: Run) -> str:
    return run.logs_in_full()


@pytest.fixture
def private_kafka(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """A second broker on other ports with its own data, so stopping it disturbs no one else's tests.

    It reuses the jars the shared broker was installed with (services.sh installs them on first use).
    """
    shared = Path(os.environ.get("DIPWATCH_CACHE", Path.home() / ".cache" / "dipwatch")) / "kafka" / "libs"
    cache = tmp_path / "kafka-cache"
    (cache / "kafka").mkdir(parents=True)
    shutil.copytree(shared, cache / "kafka" / "libs", symlinks=True, copy_function=os.link)
    port = free_port()
    env = {"DIPWATCH_CACHE": str(cache), "DIPWATCH_KAFKA_PORT": str(port),
           "DIPWATCH_KAFKA_CONTROLLER_PORT": str(free_port())}  # fmt: skip
    services("up", "kafka", env=env)
    try:
        yield f"127.0.0.1:{port}", env
    finally:
        services("down", "kafka", env=env)


BROKER_OUTAGE_S = 30.0


def test_a_broker_outage_is_ridden_out_quietly(tmp_path: Path, stream, private_kafka: tuple[str, dict[str, str]]) -> None:
    lines, expected = stream
    broker, env = private_kafka
    (tmp_path / "run").mkdir()
    outage_run = Run(tmp_path / "run", broker)
    try:
        outage_run.start_worker()
        half = len(lines) // 2
        publish_lines(outage_run.kafka, lines[:half], batch=1)
        wait_until(outage_run, lambda: any(c for _, c, _ in partition_lag(outage_run.kafka)), "a first commit")
        lines_before = len(full_log(outage_run).splitlines())
        services("down", "kafka", env=env)
        time.sleep(BROKER_OUTAGE_S)  # the fault's duration, not synchronisation
        outage_lines = len(full_log(outage_run).splitlines()) - lines_before
        services("up", "kafka", env=env)
        publish_lines(outage_run.kafka, lines[half:], batch=1)
        published = expect_series_anomalies(outage_run, expected)
        assert set(published) == expected
        pages = Counter(i for i in published if i.endswith(":sustained_drop"))
        assert [i for i, n in pages.items() if n > 1] == []
        assert all(w.poll() is None for w in outage_run.workers), outage_run.logs()
        # A line every few seconds while the broker is away, not ~110 a second.
        assert outage_lines <= 40, full_log(outage_run)[-4000:]
    finally:
        outage_run.stop()


@pytest.mark.parametrize("wipe_data_dir", [False, True], ids=["local-store", "changelog-only"])
def test_a_kill_between_a_page_and_the_next_checkpoint_keeps_the_platform_incident(
    run: Run, stream, wipe_data_dir: bool
) -> None:
    """The page of a series that belongs to a forming platform incident is out, the next checkpoint
    is not: kill -9 there. The restarted worker must still decide the platform incident (and its
    recovery) once, so the platform deltas of that page cannot have died with the process; with the
    data dir wiped, the state comes from the changelog alone."""
    lines, expected = stream
    events = replay([lines])[0]
    incident = next(e for e in events if e.scope is Scope.PLATFORM and e.kind is Kind.SUSTAINED_DROP)
    window = DetectorConfig().platform_window_ms
    members = {e.event_id for e in events if e.scope is Scope.SERIES and e.kind is Kind.SUSTAINED_DROP
               and (e.platform, e.metric) == (incident.platform, incident.metric)
               and incident.onset_ms <= e.onset_ms < incident.onset_ms + window}  # fmt: skip
    assert members
    # Everything before the platform decision goes first, in small steady steps, so the input never
    # pauses (a pause checkpoints at once) and the kill lands between a page and a checkpoint.
    cut = next(i for i, line in enumerate(lines) if getattr(decode_line(line), "ts_ms", 0) >= incident.decided_ms)
    producer = KafkaProducer(bootstrap_servers=run.kafka.bootstrap_servers, acks="all", linger_ms=5)
    output = KafkaConsumer(run.kafka.output_topic, bootstrap_servers=run.kafka.bootstrap_servers,
                           auto_offset_reset="earliest", enable_auto_commit=False)  # fmt: skip
    worker = run.start_worker()
    try:
        seen: set[str] = set()
        step = 0
        while not seen & members:
            if step < cut:
                for key, value, _ in keyed_messages(lines[step : step + 50], 1, run.kafka.partitions):
                    producer.send(run.kafka.input_topic, key=key, value=value)
                producer.flush()
                step += 50
            for records in output.poll(timeout_ms=50).values():
                seen.update(orjson.loads(r.value)["id"] for r in records)
            if worker.poll() is not None:
                pytest.fail(f"the worker exited\n{run.logs()}", pytrace=False)
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        assert incident.event_id not in seen
        if wipe_data_dir:
            shutil.rmtree(run.data_dir(0))
    finally:
        output.close()
        producer.close()
    publish_lines(run.kafka, lines[step:], batch=1)
    run.start_worker()
    published = expect_series_anomalies(run, expected)
    platform_ids = {e.event_id for e in events if e.scope is Scope.PLATFORM}
    wait_until(run, lambda: platform_ids <= published_ids(run), "the platform incident and its recovery")
    everything = Counter(m["id"] for m in read_all(run.kafka, run.kafka.output_topic))
    assert [i for i, n in everything.items() if n > 1 and i.endswith(":sustained_drop")] == []
    assert set(published) == expected


def test_workers_joining_and_leaving_mid_stream_decide_what_replay_decides(run: Run, stream) -> None:
    """Two workers on four partitions; a third joins, then one of the first two leaves: every
    partition moves at least once, and the anomaly set is still replay's, nothing twice."""
    lines, expected = stream
    thirds = [lines[: len(lines) // 3], lines[len(lines) // 3 : 2 * len(lines) // 3], lines[2 * len(lines) // 3 :]]
    first = run.start_worker(0)
    run.start_worker(1)
    publish_lines(run.kafka, thirds[0], batch=1)
    wait_until(run, lambda: any(c for _, c, _ in partition_lag(run.kafka)), "a first commit")
    run.start_worker(2)
    publish_lines(run.kafka, thirds[1], batch=1)
    wait_until(run, lambda: caught_up(run), "the three workers to catch up")
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=60) == 0
    run.workers.remove(first)  # it left on purpose: no longer one whose exit fails the test
    publish_lines(run.kafka, thirds[2], batch=1)
    published = expect_series_anomalies(run, expected)
    assert set(published) == expected
    platform_ids = {e.event_id for e in replay([lines])[0] if e.scope is Scope.PLATFORM}
    wait_until(run, lambda: platform_ids <= published_ids(run), "the replay's platform incidents")
    everything = Counter(m["id"] for m in read_all(run.kafka, run.kafka.output_topic))
    assert [i for i, n in everything.items() if n > 1] == []


def test_a_restart_with_a_backlog_drains_every_partition(run: Run, stream) -> None:
    """The worker stops, a backlog builds up on every partition, the worker starts again: each
    partition must be committed to its end, none left behind."""
    lines, expected = stream
    worker = run.start_worker()
    publish_lines(run.kafka, lines[: len(lines) // 4], batch=1)
    wait_until(run, lambda: caught_up(run), "the first quarter")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=60) == 0
    run.workers.remove(worker)
    publish_lines(run.kafka, lines[len(lines) // 4 :], batch=1)
    assert all(end - (committed or 0) > 100 for _, committed, end in partition_lag(run.kafka))  # a backlog everywhere
    run.start_worker()
    drained_s = wait_until(run, lambda: caught_up(run), "every partition drained after the restart", deadline_s=90)
    assert set(expect_series_anomalies(run, expected)) == expected
    print(f"backlog of {len(lines) * 3 // 4} messages drained in {drained_s:.1f} s")


def test_a_dead_letter_topic_with_a_smaller_limit_still_gets_every_dead_letter(run: Run) -> None:
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

    topic_limit = 200_000  # below dead_letter_max_bytes (900,000): an operator's stricter DLQ topic
    admin = KafkaAdminClient(bootstrap_servers=run.kafka.bootstrap_servers)
    try:
        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, run.kafka.dead_letter_topic,
                                            configs={"max.message.bytes": str(topic_limit)})])  # fmt: skip
    finally:
        admin.close()
    poison = [b"\xff\xfe" * 300_000, b"{" + b"y" * 500_000, b"short and bad"]
    producer = KafkaProducer(bootstrap_servers=run.kafka.bootstrap_servers, acks="all", max_request_size=4 << 20)
    for value in poison:
        producer.send(run.kafka.input_topic, key=b"k", value=value, partition=1)
    producer.send(run.kafka.input_topic, key=b"x/hostile/likes", value=GOOD % (5, 0), partition=1)
    producer.flush()
    producer.close()
    run.start_worker()
    wait_until(run, lambda: len(dead_letters(run.kafka)) >= len(poison), "every dead letter")
    letters = dead_letters(run.kafka)
    for raw in poison:
        matching = [(v, h) for v, h in letters if v and raw.startswith(v) and len(v) <= topic_limit]
        assert matching, f"no dead letter for a {len(raw)}-byte record"
        if len(raw) > topic_limit:
            assert matching[0][1]["dipwatch-truncated"] == str(len(raw)).encode()
    wait_until(run, lambda: any(p == 1 and committed == end for p, committed, end in partition_lag(run.kafka)),
               "the good update after the poison committed")  # fmt: skip
    assert run.workers[0].poll() is None
    assert "dead letters are now cut to" in run.logs_in_full()
