"""Commands that need Kafka: worker, produce, topics, lag (kafka-python here, never in the event loop)."""

from __future__ import annotations

import logging

from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, TypeVar

import typer
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

from streams.cli.errors import one_line_errors, stderr
from streams.cli.options import ConfigOption
from streams.formats.codec import decode_line
from streams.engine import Update
from streams.errors import InputError, ServiceError
from streams.provision.grafana import GrafanaAnnotations
from streams.provision.kafka_topics import create_topics as provision_topics
from streams.settings import KafkaSettings, Settings, load_settings
from streams.sinks.influx import InfluxSink
from streams.worker import FETCH_BYTES_PER_PARTITION as INPUT_MAX_MESSAGE_BYTES
from streams.worker import BatchSink, build_app, partition_of
from streams.worker.quiet_outages import install as install_outage_filter


def worker_command(config: ConfigOption = None) -> None:
    """Run the streaming worker (Faust) until interrupted."""
    with one_line_errors():
        settings = load_settings(config)
        _check_broker(settings.kafka)
        # Faust creates only the last level; the default (~/.local/state/dipwatch) may lack its parents.
        settings.worker.data_dir.mkdir(parents=True, exist_ok=True)
        app = build_app(settings, _sinks(settings))
    # Faust's own worker: it installs signal handlers and runs the event loop until stopped.
    from faust import Worker

    class QuietWorker(Worker):
        def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
            super().on_setup_root_logger(logger, level)
            install_outage_filter(logger.handlers)  # a broker outage: a line every few seconds

    QuietWorker(app, loglevel="info").execute_from_commandline()


def _check_broker(kafka: KafkaSettings) -> None:
    """Fail at start, in one line (exit 3), when no broker answers; Faust would retry in a loop
    and end in a long traceback. An outage after the start is the worker's to ride out."""
    client_log = logging.getLogger("kafka")
    level = client_log.level
    client_log.setLevel(logging.CRITICAL)  # its per-attempt reconnect lines would bury the one that matters
    try:
        _connect(lambda: KafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers, request_timeout_ms=10_000)).close()
    except ServiceError as error:
        raise ServiceError(f"Kafka is not reachable at {kafka.bootstrap_servers} ({error.__cause__}); "
                           "start it (deploy/local/services.sh up) or set DIPWATCH_KAFKA__BOOTSTRAP_SERVERS") from None
    finally:
        client_log.setLevel(level)


def _sinks(settings: Settings) -> tuple[BatchSink, ...]:
    """InfluxDB and Grafana annotations, as the configuration asks."""
    sinks: list[BatchSink] = []
    if settings.influx.enabled:
        sinks.append(InfluxSink(settings.influx))
    if settings.grafana.annotations:
        sinks.append(GrafanaAnnotations(settings.grafana))
    return tuple(sinks)


def produce_command(
    file: Annotated[Path, typer.Argument(help="JSON Lines of metric updates.")],
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="Updates per message (a JSON array when > 1).")] = 1,
    config: ConfigOption = None,
) -> None:
    """Publish a JSON Lines file to the input topic, each series always on the same partition."""
    with one_line_errors():
        kafka = load_settings(config).kafka
        if not file.is_file():
            raise InputError(f"{file} does not exist or is not a file")
        lines = [line for line in file.read_bytes().split(b"\n") if line.strip()]
        sent = publish_lines(kafka, lines, batch)
        stderr.print(f"sent {len(lines):,} lines in {sent:,} messages to {kafka.input_topic}")


def publish_lines(kafka: KafkaSettings, lines: list[bytes], batch: int = 1) -> int:
    """Send lines to the input topic; return the number of messages. Malformed lines go unkeyed."""
    producer = _connect(lambda: KafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all", linger_ms=5))
    sent = 0
    with Progress("{task.description}", BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=stderr, transient=True) as progress:  # fmt: skip
        task = progress.add_task(f"producing to {kafka.input_topic}", total=len(lines))
        for key, value, count in keyed_messages(lines, batch, kafka.partitions):
            producer.send(kafka.input_topic, key=key, value=value)
            sent += 1
            progress.advance(task, count)
    producer.flush()
    producer.close()
    return sent


def keyed_messages(lines: list[bytes], batch: int, partitions: int) -> Iterator[tuple[bytes | None, bytes, int]]:
    """(key, value, lines) per message. Batches are filled per partition, keyed by their first
    series: every series in a batch hashes to that partition, so a series never changes partition."""
    if batch == 1:
        for line in lines:
            record = decode_line(line)
            yield (record.key.encode() if type(record) is Update else None), line, 1
        return
    buffers: dict[int, list[tuple[bytes, bytes]]] = defaultdict(list)
    for line in lines:
        record = decode_line(line)
        if type(record) is not Update:
            yield None, line, 1
            continue
        key = record.key.encode()
        buffer = buffers[partition_of(key, partitions)]
        buffer.append((key, line))
        if len(buffer) >= batch:
            yield _batch_message(buffer)
            buffer.clear()
    for buffer in buffers.values():
        if buffer:
            yield _batch_message(buffer)


def _batch_message(buffer: list[tuple[bytes, bytes]]) -> tuple[bytes, bytes, int]:
    return buffer[0][0], b"[" + b",".join(line for _, line in buffer) + b"]", len(buffer)


def topics_command(config: ConfigOption = None) -> None:
    """Create the input, output, dead-letter and platform topics (existing ones are left alone)."""
    with one_line_errors():
        for name, created in create_topics(load_settings(config).kafka):
            stderr.print(f"{name}: {'created' if created else 'exists'}")


def create_topics(kafka: KafkaSettings) -> list[tuple[str, bool]]:
    """The topics, the input sized for the worker's fetch (the CLI is where the two layers meet)."""
    return provision_topics(kafka, INPUT_MAX_MESSAGE_BYTES)


def lag_command(config: ConfigOption = None) -> None:
    """Consumer lag of the worker's group on the input topic, per partition."""
    with one_line_errors():
        kafka = load_settings(config).kafka
        table = Table(title=f"{kafka.group_id} on {kafka.input_topic}")
        for column in ("partition", "committed", "end", "lag"):
            table.add_column(column, justify="right")
        for partition, committed, end in partition_lag(kafka):
            table.add_row(str(partition), "-" if committed is None else f"{committed:,}", f"{end:,}",
                          f"{end - (committed or 0):,}")  # fmt: skip
        Console().print(table)


def partition_lag(kafka: KafkaSettings) -> list[tuple[int, int | None, int]]:
    """(partition, committed offset or None, end offset) of the group on the input topic."""
    consumer = _connect(lambda: KafkaConsumer(bootstrap_servers=kafka.bootstrap_servers,
                                              group_id=kafka.group_id, enable_auto_commit=False))  # fmt: skip
    try:
        parts = [TopicPartition(kafka.input_topic, p) for p in sorted(consumer.partitions_for_topic(kafka.input_topic) or ())]
        ends = consumer.end_offsets(parts)
        return [(tp.partition, consumer.committed(tp), ends[tp]) for tp in parts]
    finally:
        consumer.close()


_Client = TypeVar("_Client")


def _connect(make: Callable[[], _Client]) -> _Client:
    try:
        return make()
    except KafkaError as error:
        raise ServiceError(f"Kafka is not reachable: {error}") from error


def register(app: typer.Typer) -> None:
    app.command("worker")(worker_command)
    app.command("produce")(produce_command)
    app.command("topics")(topics_command)
    app.command("lag")(lag_command)
