"""The Faust worker on the real broker: same series anomalies as replay, crash-safe, bad input to the DLQ."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from kafka import KafkaConsumer, TopicPartition

from streams.cli.live import create_topics, partition_lag, publish_lines
from streams.engine import Kind, Scope
from streams.replay import replay
from streams.settings import KafkaSettings
from streams.simulate import SimulationSpec, simulate
from tests.integration.test_influx import influx_url, recent_start_ms  # noqa: F401  (the InfluxDB fixture)

pytestmark = pytest.mark.integration

DEADLINE_S = 90.0


class Run:
    """One test's private topics, group and workers."""

    def __init__(self, tmp_path: Path, broker: str) -> None:
        suffix = uuid.uuid4().hex[:10]
        self.kafka = KafkaSettings(
            bootstrap_servers=broker, input_topic=f"it.metrics.{suffix}", output_topic=f"it.anomalies.{suffix}",
            dead_letter_topic=f"it.dlq.{suffix}", platform_topic=f"it.platform.{suffix}",
            partitions=4, group_id=f"it-{suffix}",
        )  # fmt: skip
        self.tmp_path = tmp_path
        self.workers: list[subprocess.Popen[bytes]] = []
        create_topics(self.kafka)

    def env(self, index: int) -> dict[str, str]:
        env = dict(os.environ)
        for field, value in self.kafka.model_dump().items():
            env[f"DIPWATCH_KAFKA__{field.upper()}"] = str(value)
        env.update(
            DIPWATCH_WORKER__STORE="memory://",
            DIPWATCH_WORKER__DATA_DIR=str(self.tmp_path / f"data{index}"),
            DIPWATCH_WORKER__WEB_PORT=str(free_port()),
            DIPWATCH_WORKER__IDLE_FLUSH_S="2",
            DIPWATCH_WORKER__CHECKPOINT_INTERVAL_S="0.5",
        )
        return env

    def start_worker(self, index: int = 0, extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = (self.tmp_path / f"worker{index}-{len(self.workers)}.log").open("wb")
        # `dipwatch worker` when sinks are configured (the CLI builds them), else Faust's own entry point.
        command = [sys.executable, "-c", "from streams.cli import app; app()", "worker"] if extra_env else [
            sys.executable, "-m", "faust", "-A", "streams.worker", "worker", "-l", "info"]  # fmt: skip
        worker = subprocess.Popen(
            command, env={**self.env(index), **(extra_env or {})}, stdout=log, stderr=subprocess.STDOUT,
            cwd=Path(__file__).parents[2],
        )  # fmt: skip
        self.workers.append(worker)
        return worker

    def stop(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.tmp_path.glob("worker*.log")))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def read_all(kafka: KafkaSettings, topic: str) -> list[dict]:
    """Every message on `topic` up to its current end (no group, nothing committed)."""
    consumer = KafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        ends = consumer.end_offsets(parts)
        messages: list[dict] = []
        while any(consumer.position(tp) < ends[tp] for tp in parts):
            for records in consumer.poll(timeout_ms=500).values():
                messages.extend(orjson.loads(r.value) for r in records)
        return messages
    finally:
        consumer.close()


def series_ids(messages: list[dict]) -> list[str]:
    return [m["id"] for m in messages if m["scope"] == "series"]


def wait_until(run: Run, done: callable, what: str) -> None:
    """Poll with a deadline (never sleep to synchronise on a guess)."""
    deadline = time.monotonic() + DEADLINE_S
    while not done():
        if time.monotonic() > deadline:
            lag = partition_lag(run.kafka)
            pytest.fail(f"timed out waiting for {what} (partition, committed, end: {lag})\n{run.logs()}", pytrace=False)
        if any(w.poll() not in (None, -9) for w in run.workers):
            pytest.fail(f"a worker exited while waiting for {what}\n{run.logs()}", pytrace=False)
        time.sleep(0.5)  # poll interval, not synchronisation: the condition decides


def caught_up(run: Run) -> bool:
    return all(committed == end for _, committed, end in partition_lag(run.kafka))


@pytest.fixture
def run(tmp_path: Path, kafka_broker: str) -> Iterator[Run]:
    current = Run(tmp_path, kafka_broker)
    yield current
    current.stop()


@pytest.fixture(scope="module")
def stream() -> tuple[list[bytes], set[str]]:
    lines = simulate(SimulationSpec(seed=3, accounts=20, hours=6, start_ms=recent_start_ms(hours=6))).lines
    events, _ = replay([lines])
    expected = {e.event_id for e in events if e.scope is Scope.SERIES}
    assert expected
    return lines, expected


def expect_series_anomalies(run: Run, expected: set[str]) -> list[str]:
    wait_until(run, lambda: expected <= set(series_ids(read_all(run.kafka, run.kafka.output_topic))),
               "the replay's series anomalies")  # fmt: skip
    wait_until(run, lambda: caught_up(run), "the group to commit every input offset")
    return series_ids(read_all(run.kafka, run.kafka.output_topic))


def published_ids(run: Run) -> set[str]:
    return {m["id"] for m in read_all(run.kafka, run.kafka.output_topic)}


def expect_platform_incidents(run: Run, lines: list[bytes]) -> set[str]:
    """Wait for every platform incident replay finds in `lines`; return their ids."""
    platform_ids = {e.event_id for e in replay([lines])[0] if e.scope is Scope.PLATFORM}
    wait_until(run, lambda: platform_ids <= published_ids(run), "the replay's platform incidents")
    return platform_ids


@pytest.mark.parametrize("workers", [1, 2])
def test_worker_publishes_the_same_series_anomalies_as_replay(run: Run, stream, workers: int) -> None:
    lines, expected = stream
    for index in range(workers):
        run.start_worker(index)
    publish_lines(run.kafka, lines, batch=1)
    published = expect_series_anomalies(run, expected)
    assert set(published) == expected
    expect_platform_incidents(run, lines)


def kill_and_restart(run: Run, lines: list[bytes], with_incident_open: bool) -> None:
    """Kill -9 the worker during the first half of the stream, then restart it on the rest.

    `with_incident_open`: in the seed-3 stream the platform outage is paged in the first half and
    recovers in the second; the kill waits until that page (and a series page) is out, so the
    restart has published pages it must not repeat and an open platform incident whose recovery it
    must still decide, once. Without it the kill comes at the first commit, usually mid-stream, so
    the restart re-reads input that was processed but not committed."""
    worker = run.start_worker()
    publish_lines(run.kafka, lines[: len(lines) // 2], batch=1)
    if with_incident_open:
        events = replay([lines])[0]
        platform_pages = {e.event_id for e in events if e.scope is Scope.PLATFORM and e.kind is Kind.SUSTAINED_DROP}
        series_pages = {e.event_id for e in events if e.scope is Scope.SERIES and e.kind is Kind.SUSTAINED_DROP}
        assert platform_pages and series_pages

        def incident_open() -> bool:
            ids = published_ids(run)
            return platform_pages <= ids and bool(series_pages & ids)

        wait_until(run, incident_open, "the platform page and a series page before the kill")
    wait_until(run, lambda: any(c for _, c, _ in partition_lag(run.kafka)), "a first commit")
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    publish_lines(run.kafka, lines[len(lines) // 2 :], batch=1)
    run.start_worker()


@pytest.mark.parametrize("with_incident_open", [False, True], ids=["at-first-commit", "incident-open"])
def test_killed_worker_restarts_without_losing_or_repeating_a_page(run: Run, stream, with_incident_open: bool) -> None:
    lines, expected = stream
    kill_and_restart(run, lines, with_incident_open)
    wait_until(run, lambda: expected <= set(series_ids(read_all(run.kafka, run.kafka.output_topic))),
               "the replay's series anomalies")  # fmt: skip
    published = series_ids(read_all(run.kafka, run.kafka.output_topic))
    assert set(published) == expected
    pages = Counter(i for i in published if i.endswith(":sustained_drop"))
    assert [i for i, n in pages.items() if n > 1] == []
    # The platform stage's aggregator comes back from its table: the incident open at the kill
    # is still decided, and recovered, once.
    platform_ids = expect_platform_incidents(run, lines)
    assert platform_ids
    platform_published = Counter(m["id"] for m in read_all(run.kafka, run.kafka.output_topic) if m["scope"] == "platform")
    assert [i for i, n in platform_published.items() if n > 1] == []


def test_restarted_worker_commits_every_partition_to_the_end(run: Run, stream) -> None:
    """After a kill -9, Faust sometimes leaves a hole in a partition's acknowledgements (about one
    restart in two before the commit watchdog): every partition must still commit to its end."""
    lines, expected = stream
    kill_and_restart(run, lines, with_incident_open=False)
    expect_series_anomalies(run, expected)


def test_malformed_messages_go_to_the_dead_letters_and_the_worker_keeps_going(run: Run, stream) -> None:
    lines, expected = stream
    bad = [b"not json", b"[1, 2]", b'{"platform":"x","account":"a","metric":"m","value":-1,"ts":1}']
    run.start_worker()
    publish_lines(run.kafka, bad + lines, batch=1)
    published = expect_series_anomalies(run, expected)
    assert set(published) == expected
    reasons = Counter(m["reason"] for m in read_all(run.kafka, run.kafka.dead_letter_topic))
    assert reasons["not_json"] >= 5 and reasons["not_object"] >= 4 and reasons["bad_value"] >= 3
    assert run.workers[0].poll() is None


def test_worker_writes_the_same_anomaly_points_to_influxdb_as_the_backfill(run: Run, stream, influx_url: str) -> None:
    from tests.integration.test_influx import TOKEN, _drop, _fresh_database, point_count

    lines, expected = stream
    influx = _fresh_database(influx_url)
    try:
        run.start_worker(extra_env={
            "DIPWATCH_INFLUX__ENABLED": "true", "DIPWATCH_INFLUX__URL": influx.url,
            "DIPWATCH_INFLUX__TOKEN": TOKEN, "DIPWATCH_INFLUX__BUCKET": influx.bucket,
        })  # fmt: skip
        publish_lines(run.kafka, lines, batch=10)
        expect_series_anomalies(run, expected)
        published = read_all(run.kafka, run.kafka.output_topic)
        # Every published event is one anomaly point (platform events included), none twice.
        wait_until(run, lambda: point_count(influx, "anomaly", "drop") == len({m["id"] for m in published}),
                   "the anomaly points in InfluxDB")  # fmt: skip
    finally:
        _drop(influx)
