"""Workers started the way the README starts them (`dipwatch worker`, shipped defaults), on a test's
private topics and group, and the reads the tests make of what they published."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import orjson
import pytest
from kafka import KafkaConsumer, TopicPartition

from streams.cli.live import create_topics, partition_lag
from streams.settings import KafkaSettings

REPO = Path(__file__).resolve().parents[2]
DEADLINE_S = 120.0  # idle flush (30 s by default) and a rebalance fit well inside


def broker_address() -> str:
    """The broker the suite talks to: the settings' address if given, else services.sh's port."""
    configured = os.environ.get("DIPWATCH_KAFKA__BOOTSTRAP_SERVERS")
    return configured or f"127.0.0.1:{os.environ.get('DIPWATCH_KAFKA_PORT', '9092')}"


def dipwatch_command() -> str:
    found = shutil.which("dipwatch")
    if found is None:
        pytest.fail("the `dipwatch` console script is not on PATH (pip install -e .)", pytrace=False)
    return found


class Run:
    """One test's private topics, group and workers. A worker gets only what a user running
    several on one machine sets: the topics and group, its own data dir and web port."""

    def __init__(self, tmp_path: Path, broker: str, partitions: int = 4) -> None:
        suffix = uuid.uuid4().hex[:10]
        self.kafka = KafkaSettings(
            bootstrap_servers=broker, input_topic=f"it.metrics.{suffix}", output_topic=f"it.anomalies.{suffix}",
            dead_letter_topic=f"it.dlq.{suffix}", platform_topic=f"it.platform.{suffix}",
            partitions=partitions, group_id=f"it-{suffix}",
        )  # fmt: skip
        self.tmp_path = tmp_path
        self.workers: list[subprocess.Popen[bytes]] = []
        create_topics(self.kafka)

    def data_dir(self, index: int) -> Path:
        return self.tmp_path / f"data{index}"

    def env(self, index: int) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DIPWATCH_WORKER__")}
        for field, value in self.kafka.model_dump().items():
            env[f"DIPWATCH_KAFKA__{field.upper()}"] = str(value)
        env.update(
            PYTHONPATH=str(REPO),  # run the tree under test, not whatever is installed
            DIPWATCH_WORKER__DATA_DIR=str(self.data_dir(index)),
            DIPWATCH_WORKER__WEB_PORT=str(free_port()),
        )
        return env

    def start_worker(self, index: int = 0, extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        log = (self.tmp_path / f"worker{index}-{len(self.workers)}.log").open("wb")
        worker = subprocess.Popen(
            [dipwatch_command(), "worker"], env={**self.env(index), **(extra_env or {})},
            stdout=log, stderr=subprocess.STDOUT, cwd=self.tmp_path,
        )  # fmt: skip
        self.workers.append(worker)
        return worker

    def stop(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in self.workers:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()

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


def published_ids(run: Run) -> set[str]:
    return {m["id"] for m in read_all(run.kafka, run.kafka.output_topic)}


def wait_until(run: Run, done: Callable[[], bool], what: str, deadline_s: float = DEADLINE_S) -> float:
    """Poll with a deadline (never sleep to synchronise on a guess); the seconds it took."""
    started = time.monotonic()
    while not done():
        if time.monotonic() - started > deadline_s:
            lag = partition_lag(run.kafka)
            pytest.fail(f"timed out waiting for {what} (partition, committed, end: {lag})\n{run.logs()}", pytrace=False)
        if any(w.poll() not in (None, -9) for w in run.workers):
            pytest.fail(f"a worker exited while waiting for {what}\n{run.logs()}", pytrace=False)
        time.sleep(0.5)  # poll interval, not synchronisation: the condition decides
    return time.monotonic() - started


def caught_up(run: Run) -> bool:
    return all(committed == end for _, committed, end in partition_lag(run.kafka))


@pytest.fixture
def run(tmp_path: Path, kafka_broker: str) -> Iterator[Run]:
    current = Run(tmp_path, kafka_broker)
    yield current
    current.stop()
