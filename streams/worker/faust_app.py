"""The Faust app: its settings, the worker's parts put together, and the agents, timer, revocation
hook and metrics page that drive them."""

from __future__ import annotations

import gc
import time
from typing import Any

import faust
from faust.types import TP
from prometheus_client import generate_latest

from streams.settings import Settings
from streams.worker.confirmed_table import commits_wait_for_the_buffer
from streams.worker.dead_letters import DeadLetters
from streams.worker.housekeeping import Housekeeping
from streams.worker.lag import LagMonitor
from streams.worker.metrics import METRICS_CONTENT_TYPE, WorkerMetrics
from streams.worker.platform_stage import PlatformStage
from streams.worker.publishing import EventPublisher
from streams.worker.series_stage import INPUT_PAUSED_S, SeriesStage
from streams.worker.sink_drain import BatchSink, SinkDrain

# A session timeout well under Faust's default (60 s) so a killed worker's partitions move on quickly;
# heartbeats at a third of it, as Kafka recommends.
_SESSION_TIMEOUT_S = 10.0
_HEARTBEAT_S = 3.0
FETCH_BYTES_PER_PARTITION = 8 << 20  # also the largest input message `dipwatch topics` allows
# Updates and series state hold no reference cycles, yet at Python's default threshold (700) the
# collector scanned them so often that raising it made the batched worker a third faster (measured).
_GC_GEN0_THRESHOLD = 50_000


class WorkerParts:
    """The series stage, the platform stage, and what they share: metrics, sinks, publishing, lag."""

    def __init__(self, app: faust.App, settings: Settings, sinks: tuple[BatchSink, ...] = ()) -> None:
        kafka = settings.kafka
        self.app, self.settings, self.sinks = app, settings, sinks
        config = settings.detector.to_config()
        self.metrics = metrics = WorkerMetrics()
        self.drain = SinkDrain(sinks, metrics.registry)
        self.lag = LagMonitor(app, kafka.input_topic, metrics)
        output = app.topic(kafka.output_topic, key_type=bytes, value_type=bytes, value_serializer="raw")
        self.publisher = EventPublisher(output, kafka, metrics, self.drain)
        self.dead_letters = DeadLetters(
            app.topic(kafka.dead_letter_topic, key_type=bytes, value_type=bytes, value_serializer="raw"),
            metrics.registry, kafka.dead_letter_max_bytes,
        )  # fmt: skip
        self.platform = PlatformStage(app, kafka.platform_topic, config, kafka.partitions, self.publisher)
        self.series = SeriesStage(app, settings, config, lag=self.lag, dead_letters=self.dead_letters,
                                  publisher=self.publisher, platform=self.platform, drain=self.drain)  # fmt: skip
        self.housekeeping = Housekeeping(app, self.series, self.drain, metrics)
        series = self.series
        metrics.checkpoint_age.set_function(lambda: time.monotonic() - series.checkpointed_s)

    def forget(self, revoked: set[TP]) -> None:
        """Partitions that moved to another worker: their state lives on in the tables."""
        for tp in revoked:
            if tp.topic == self.series.input.get_topic_name():
                self.series.forget(tp)
            elif tp.topic == self.platform.topic.get_topic_name():
                self.platform.forget(tp.partition)


def build_app(settings: Settings, sinks: tuple[BatchSink, ...] = ()) -> faust.App:
    """The Faust app for these settings; nothing connects until the worker starts."""
    kafka, worker = settings.kafka, settings.worker
    app = faust.App(
        kafka.group_id,
        broker=f"kafka://{kafka.bootstrap_servers}",
        store=worker.store,
        datadir=str(worker.data_dir),
        topic_partitions=kafka.partitions,
        topic_replication_factor=kafka.replication_factor,
        web_port=worker.web_port,
        web_bind=worker.web_bind,
        broker_session_timeout=_SESSION_TIMEOUT_S,
        broker_heartbeat_interval=_HEARTBEAT_S,
        consumer_auto_offset_reset="earliest",
        stream_buffer_maxsize=2 * worker.batch_size,  # the input queue: room for a full batch while one runs
        # Batched messages are ~10 kB: Faust's 1 MiB per partition and fetch left the worker waiting
        # on the broker between fetches for a third of its time (measured).
        consumer_max_fetch_size=FETCH_BYTES_PER_PARTITION,
        producer_acks=-1,
        key_serializer="raw",
        value_serializer="raw",  # bytes everywhere: the codec and streams/state.py own the formats
        autodiscover=False,
    )
    commits_wait_for_the_buffer(app)
    wire(app, WorkerParts(app, settings, sinks))
    return app


def wire(app: faust.App, parts: WorkerParts) -> None:
    """Register the agents, the housekeeping timer, the revocation hook and the metrics page."""
    worker = parts.settings.worker

    # Iterating the topic registers it with Faust's conductor, so the group subscribes to it; done
    # here, before the app starts, so the first subscription includes it.
    inbox = parts.series.input.__aiter__().queue

    @app.task
    async def series() -> None:
        gc.freeze()  # what start-up built stays: no need to scan it again
        gc.set_threshold(_GC_GEN0_THRESHOLD, *gc.get_threshold()[1:])
        await parts.series.consume(inbox)

    @app.agent(parts.platform.topic, name="platform")
    async def platform(stream: faust.StreamT) -> None:
        async for event in stream.events():
            await parts.platform.apply(event)

    @app.timer(interval=min(worker.idle_flush_s / 2, worker.checkpoint_interval_s / 2, INPUT_PAUSED_S / 2),
               name="housekeeping")
    async def housekeeping() -> None:
        await parts.housekeeping.tick()

    @app.on_partitions_revoked.connect
    async def on_revoked(sender: faust.App, revoked: set[TP], **_: Any) -> None:
        parts.forget(revoked)

    @app.page("/metrics/")
    async def metrics(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(parts.metrics.registry), content_type=METRICS_CONTENT_TYPE)
