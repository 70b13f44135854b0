"""The Faust app: topics, tables, the series stage (bulk drain, checkpoints), the platform stage,
dead letters and metrics; no detection logic."""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

import faust
import orjson
from aiokafka.partitioner import murmur2
from faust.types import TP, EventT, Message
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from streams.formats.codec import Rejected, decode_message, encode_event
from streams.engine import AnomalyEvent, Detector, DetectorConfig, Kind, Scope, Update
from streams.engine.platform import PlatformAggregator, PlatformDelta
from streams.settings import Settings, load_settings
from streams.formats.state import decode_platform_state, decode_state, encode_platform_state, encode_state
from streams.worker.commit_watchdog import CommitWatchdog
from streams.worker.dead_letters import DeadLetters
from streams.worker.output_tail import published_ids
from streams.worker.progress_log import CatchUpLog
from streams.worker.sink_drain import BatchSink, SinkDrain
from streams.worker.table_writes import as_partition

log = logging.getLogger(__name__)

# A session timeout well under Faust's default (60 s) so a killed worker's partitions move on quickly;
# heartbeats at a third of it, as Kafka recommends.
_SESSION_TIMEOUT_S = 10.0
_HEARTBEAT_S = 3.0
# Prometheus' text format; aiohttp refuses a charset inside content_type (prometheus-client's
# CONTENT_TYPE_LATEST has one, so the page failed), and the text format is UTF-8 anyway.
_METRICS_CONTENT_TYPE = "text/plain; version=0.0.4"
FETCH_BYTES_PER_PARTITION = 8 << 20  # also the largest input message `dipwatch topics` allows
_INPUT_PAUSED_S = 0.2  # no batch for this long: the worker has caught up with its input
# Updates and series state hold no reference cycles, yet at Python's default threshold (700) the
# collector scanned them so often that raising it made the batched worker a third faster (measured).
_GC_GEN0_THRESHOLD = 50_000
_TOMBSTONE = Rejected("no_value", "the message has no value (a tombstone): nothing to decode", b"")
_SINK_SETTLE_S = 1.0  # sinks written at least this often between checkpoints
_WATCHDOG_INTERVAL_S = 5.0  # a hole seen at two checks this far apart is stuck, not in flight


def partition_of(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (Java, kafka-python, aiokafka alike) picks for a key."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


class _Metrics:
    """Prometheus figures on a registry of the app's own, so several apps can live in one process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.updates = Counter("dipwatch_updates", "Valid updates observed", registry=r)
        self.rejects = Counter("dipwatch_rejects", "Records sent to the dead letters", ["reason"], registry=r)
        self.pages = Counter("dipwatch_pages", "Series sustained_drop pages published", registry=r)
        self.events = Counter("dipwatch_events", "Anomaly events published", ["kind", "scope"], registry=r)
        self.lag = Gauge("dipwatch_partition_lag", "Messages behind the end", ["partition"], registry=r)
        self.reread = Counter("dipwatch_partitions_reread", "Partitions sought back over stuck commits", registry=r)
        self.checkpoint_age = Gauge("dipwatch_checkpoint_age_seconds", "Seconds since state was last saved "
                                    "and offsets acknowledged", registry=r)  # fmt: skip


class Wiring:
    """Per-partition detectors, the platform aggregators, their tables, and the work between them."""

    def __init__(self, app: faust.App, settings: Settings, sinks: tuple[BatchSink, ...] = ()) -> None:
        kafka = settings.kafka
        self.app, self.settings, self.sinks = app, settings, sinks
        self.config: DetectorConfig = settings.detector.to_config()
        self.partitions = kafka.partitions
        self.metrics = _Metrics()
        self.drain = SinkDrain(sinks, self.metrics.registry)
        self.catch_up = CatchUpLog()
        self.lag: dict[int, int] = {}  # input partition -> messages behind, after its last batch
        self.published: dict[int, set[str]] = {}  # input partition -> event ids already on its output partition
        self.input = app.topic(kafka.input_topic, key_type=bytes, value_type=bytes, value_serializer="raw")
        self.output = app.topic(kafka.output_topic, key_type=bytes, value_type=bytes, value_serializer="raw")
        self.dead_letters = DeadLetters(
            app.topic(kafka.dead_letter_topic, key_type=bytes, value_type=bytes, value_serializer="raw"),
            self.metrics.registry, kafka.dead_letter_max_bytes,
        )  # fmt: skip
        self.platform = app.topic(kafka.platform_topic, value_type=bytes, value_serializer="raw")
        # Written only through `_save`, which names the partition (`as_partition`): the one Kafka's
        # default partitioner picks for the series key, for the local store and the changelog alike.
        self.table = app.Table("series_state", key_type=bytes, value_type=bytes)
        # One entry per platform-topic partition, written while that partition's message is the
        # current event, so Faust restores it wherever the partition moves.
        self.platform_table = app.Table("platform_state", key_type=bytes, value_type=bytes)
        self.detectors: dict[int, Detector] = {}
        self.aggregators: dict[int, tuple[PlatformAggregator, int]] = {}  # with the last offset applied
        self.last_data_s: dict[int, float] = {}
        self.unacked: list[Message] = []  # processed, acknowledged at the next checkpoint
        self.last_batch_s = 0.0
        self.checkpointed_s = time.monotonic()
        self.watchdog: CommitWatchdog | None = None  # built on first use: the consumer exists then
        self.watched_s = time.monotonic()
        self.settled_s = time.monotonic()
        self.lock = asyncio.Lock()
        self.metrics.checkpoint_age.set_function(lambda: time.monotonic() - self.checkpointed_s)

    # -- the series stage --------------------------------------------------------------------

    async def consume(self, inbox: asyncio.Queue[EventT]) -> None:
        """Drain the input channel in bulk: whatever arrived since the last batch is one batch.

        Faust's stream per message (its `take()` included) costs more than the engine does per
        update, so the series stage reads the channel's queue itself and keeps Faust for what it
        is good at: the consumer group, tables, changelogs, the producer, commits and the web page.
        """
        limit, linger_s = self.settings.worker.batch_size, self.settings.worker.batch_linger_s
        while True:
            events = [await inbox.get()]
            if inbox.qsize() < limit:
                # Faust hands messages over one at a time; without a pause each batch would hold
                # one, and the per-batch work (watermark, publish, lag) would be paid per message.
                await asyncio.sleep(linger_s)
            while len(events) < limit and not inbox.empty():
                events.append(inbox.get_nowait())
            async with self.lock:
                await self.process_batch(events)
                self.last_batch_s = time.monotonic()
                if self._checkpoint_due():
                    await self._checkpoint()

    async def process_batch(self, events: list[EventT]) -> None:
        """One batch: grouped by partition, each partition's detector sees its own updates."""
        consumer, generation = self.app.consumer, self.app.consumer_generation_id
        by_partition: dict[int, list[Message]] = defaultdict(list)
        last_offset: dict[int, int] = {}
        for event in events:
            message = event.message
            if message.generation_id != generation:
                continue  # fetched before a rebalance: read again from the committed offset
            consumer.track_message(message)  # a rebalance now waits for its checkpoint
            by_partition[message.partition].append(message)
            last_offset[message.partition] = message.offset
            self.unacked.append(message)
        for partition, messages in by_partition.items():
            self.last_data_s[partition] = time.monotonic()  # wall clock: see idle_flush
            await self._process_partition(partition, messages)
        self._record_lag(last_offset)

    async def _process_partition(self, partition: int, messages: list[Message]) -> None:
        updates: list[Update] = []
        rejects: list[tuple[Rejected, bytes | None, str]] = []
        for message in messages:
            raw = message.value
            records = decode_message(raw) if raw is not None else [_TOMBSTONE]
            for record in records:
                if type(record) is Update:
                    updates.append(record)
                else:
                    rejects.append((record, message.key, f"{message.topic}/{partition}/{message.offset}"))  # type: ignore[arg-type]
        if rejects:
            for rejected, _, _ in rejects:
                self.metrics.rejects.labels(rejected.reason).inc()
            await self.dead_letters.send_all(rejects)
        self.metrics.updates.inc(len(updates))
        self.catch_up.observed(len(updates))
        detector = self._detector(partition)
        self._load_unseen(detector, updates)
        await self._conclude(partition, detector, detector.observe_many(updates), updates)

    async def _conclude(
        self, partition: int, detector: Detector, found: list[AnomalyEvent], updates: Sequence[Update] = ()
    ) -> None:
        """Publish the events, forward the partition's platform deltas, then save at once the series
        that decided an event.

        Events and deltas are awaited until the broker has them before the state that decided them
        is saved: saved state never runs ahead of what it sent, so a crash loses no event and no
        platform delta. A crash before the save re-reads the input from the last committed offset
        and decides the same events again with the same ids (series, kind, onset); those already on
        the output topic are not sent again (`_published_before`). A saved series ahead of the
        committed offset takes the re-read updates as duplicates and owes no delta. Every other
        series is saved at the next checkpoint, after its deltas went the same way. Left open: a
        crash after the broker took a batch of deltas and before the save (a few milliseconds)
        sends those deltas again and the platform stage counts them twice; closing it needs Kafka
        transactions (Faust's exactly_once).
        """
        await self._emit(found, updates, skip=await self._published_before(partition))
        deciding = {event.series for event in found if event.scope is Scope.SERIES}
        if deciding:
            await self._forward_platform(partition, detector)
            self._save(detector, deciding)

    def _save(self, detector: Detector, keys: Iterable[str]) -> None:
        """Write series state to the table, each key into its own partition's store and changelog.

        Safe under rebalances because every write happens under `self.lock`, in a checkpoint or
        a conclusion, before the messages that led to it are acknowledged; Faust suspends flow on
        a revocation and waits for every tracked message to be acknowledged (`_checkpoint_due`
        sees the suspension and checkpoints at once) before it commits and hands the partition
        over, so the new owner restores state at least as new as the committed offset. A write
        for a partition this worker has just lost still goes to that partition's changelog; the
        new owner either restores it or re-reads the updates it came from, which it then decides
        the same way (a duplicate at worst, never a loss).
        """
        partitions, table, topic = self.partitions, self.table, self.input.get_topic_name()
        for key in keys:
            state = detector.export_series(key)
            if state is not None:
                raw = key.encode()
                with as_partition(topic, partition_of(raw, partitions)):
                    table[raw] = encode_state(state)  # assignment: only that reaches the changelog

    def _checkpoint_due(self) -> bool:
        """Processed input waits, and: the interval has passed, too many messages wait (they are
        held in memory), the input has paused (the worker has caught up, so saving costs no
        throughput and commits sooner), or a rebalance waits for them (Faust suspends flow)."""
        worker, now = self.settings.worker, time.monotonic()
        return bool(self.unacked) and (
            now - self.checkpointed_s >= worker.checkpoint_interval_s
            or len(self.unacked) >= worker.checkpoint_max_messages
            or now - self.last_batch_s >= _INPUT_PAUSED_S
            or not self.app.flow_control.is_active()
        )

    async def _checkpoint(self) -> None:
        """Forward the platform deltas, save every series touched since the last checkpoint, then
        acknowledge the batches they came from: Faust commits only what is acknowledged, so the
        committed offsets never pass the saved state. One write per series per checkpoint,
        however many updates it had, is what keeps one update per message cheap."""
        for partition, detector in list(self.detectors.items()):
            await self._forward_platform(partition, detector)  # delivered before the series that made them are saved
            self._save(detector, detector.touched_keys())
        await self.drain.settle()  # points written before their offsets are acknowledged, while sinks are up
        consumer = self.app.consumer
        for message in self.unacked:
            message.ack(consumer)
        self.unacked = []
        self.checkpointed_s = time.monotonic()

    async def _published_before(self, partition: int) -> set[str]:
        """Ids this partition's events already have on the output topic, read once per assignment
        (streams/worker/output_tail.py): a re-read after a crash or a move publishes none twice."""
        ids = self.published.get(partition)
        if ids is None:
            kafka = self.settings.kafka
            ids = self.published[partition] = await published_ids(kafka.bootstrap_servers, kafka.output_topic, partition)
        return ids

    def _detector(self, partition: int) -> Detector:
        """A partition's detector, with every saved series of the partition scheduled again, so a
        series that went silent before a restart still has its hold expire."""
        detector = self.detectors.get(partition)
        if detector is None:
            detector = self.detectors[partition] = Detector(self.config, platforms=None)
            for key, data in list(self.table.items()):
                if partition_of(key, self.partitions) == partition:
                    detector.import_series(decode_state(key.decode(), data))
        return detector

    def _load_unseen(self, detector: Detector, updates: list[Update]) -> None:
        """Series keyed onto an unexpected partition were not found by the scan in `_detector()`."""
        for key in {u.key for u in updates}:
            if detector.export_series(key) is None:
                data = self.table.get(key.encode())
                if data is not None:
                    detector.import_series(decode_state(key, data))

    async def _emit(
        self, found: list[AnomalyEvent], updates: Sequence[Update] = (), skip: set[str] | frozenset[str] = frozenset()
    ) -> None:
        """Events to the output topic at once (but those in `skip`: already there); the batch into
        the sinks' buffers, written at the next checkpoint (streams/worker/sink_drain.py: an outage
        delays points, not events; the sinks overwrite a point written twice)."""
        await self._publish([event for event in found if event.event_id not in skip] if skip else found)
        self.drain.add_batch(updates, found)

    async def _publish(self, found: list[AnomalyEvent]) -> None:
        pending = []
        for event in found:
            pending.append(await self.output.send(key=event.series.encode(), value=encode_event(event)))
            self.metrics.events.labels(event.kind.value, event.scope.value).inc()
            if event.kind is Kind.SUSTAINED_DROP:
                if event.scope is Scope.SERIES:
                    self.metrics.pages.inc()
                log.info("page id=%s message=%s", event.event_id, event.message)
        if pending:
            await asyncio.gather(*pending)

    async def _forward_platform(self, source: int, detector: Detector) -> None:
        """Each platform partition gets this source's deltas for its platform/metric keys and the
        source's watermark in one message: order within it is what the aggregator needs."""
        routed: dict[int, list[list[Any]]] = defaultdict(list)
        for delta in detector.take_platform_deltas():
            target = partition_of(f"{delta.platform}/{delta.metric}".encode(), self.partitions)
            routed[target].append([delta.kind, delta.platform, delta.metric, delta.bucket_ms,
                                   delta.at_ms, delta.baseline, delta.low, delta.cause])  # fmt: skip
        sending = []
        for target in range(self.partitions):
            body = {"source": str(source), "watermark_ms": detector.watermark_ms, "deltas": routed.get(target, [])}
            sending.append(await self.platform.send(key=str(source).encode(), value=orjson.dumps(body), partition=target))
        await asyncio.gather(*sending)  # the broker has them: only now may the series that made them be saved

    def _record_lag(self, last_offset: dict[int, int]) -> None:
        consumer = self.app.consumer
        for partition, offset in last_offset.items():
            highwater = consumer.highwater(TP(self.input.get_topic_name(), partition))
            if highwater is not None:
                self.lag[partition] = max(highwater - offset - 1, 0)
                self.metrics.lag.labels(str(partition)).set(self.lag[partition])
        self.catch_up.lag_is(sum(self.lag.values()))

    async def housekeeping(self) -> None:
        """Timed work between batches: the idle flush, a checkpoint when one is due, and the
        commit watchdog."""
        async with self.lock:
            await self._idle_flush()
            if self._checkpoint_due():
                await self._checkpoint()
            elif time.monotonic() - self.settled_s >= _SINK_SETTLE_S:
                self.settled_s = time.monotonic()
                await self.drain.settle()  # the platform stage's events, when no series input comes
            now = time.monotonic()
            if now - self.watched_s >= _WATCHDOG_INTERVAL_S:
                self.watched_s = now
                if self.watchdog is None:
                    self.watchdog = CommitWatchdog(self.app.consumer, self.input.get_topic_name())
                self.metrics.reread.inc(await self.watchdog.check())

    async def _idle_flush(self) -> None:
        """The only use of the wall clock in deciding: a partition that stopped receiving data for
        `idle_flush_s` is advanced to its newest event time, so its open holds still decide."""
        idle_s, flushed = self.settings.worker.idle_flush_s, False
        for partition, detector in list(self.detectors.items()):
            seen = self.last_data_s.get(partition)
            if seen is not None and time.monotonic() - seen >= idle_s:
                del self.last_data_s[partition]  # once per quiet spell
                await self._conclude(partition, detector, detector.flush())
                flushed = True
        if flushed:
            await self._checkpoint()

    def forget(self, revoked: set[TP]) -> None:
        """Partitions that moved to another worker: their state lives on in the table."""
        for tp in revoked:
            if tp.topic == self.input.get_topic_name():
                self.detectors.pop(tp.partition, None)
                self.last_data_s.pop(tp.partition, None)
                self.lag.pop(tp.partition, None)
                self.published.pop(tp.partition, None)
            elif tp.topic == self.platform.get_topic_name():
                self.aggregators.pop(tp.partition, None)

    # -- the platform stage ------------------------------------------------------------------

    async def process_platform(self, event: EventT) -> None:
        """Apply one source's deltas and watermark, publish what that decides, save the aggregator.

        The saved state carries the offset it has applied, so a message read again after a
        crash (saved, not yet committed) is skipped instead of counted twice."""
        partition, offset = event.message.partition, event.message.offset
        aggregator, applied = self._aggregator(partition)
        if offset <= applied:
            return
        body = orjson.loads(event.message.value)
        for fields in body["deltas"]:
            aggregator.add(PlatformDelta(*fields))
        await self._emit(aggregator.advance(body["watermark_ms"], body["source"]))
        self.aggregators[partition] = (aggregator, offset)
        self.platform_table[str(partition).encode()] = encode_platform_state(aggregator.export_state(), offset)

    def _aggregator(self, partition: int) -> tuple[PlatformAggregator, int]:
        """A platform partition's aggregator, restored from the table when this worker is new to it."""
        known = self.aggregators.get(partition)
        if known is not None:
            return known
        aggregator = PlatformAggregator(self.config, sources=tuple(str(p) for p in range(self.partitions)))
        applied = -1
        saved = self.platform_table.get(str(partition).encode())
        if saved is not None:
            state, applied = decode_platform_state(saved)
            aggregator.import_state(state)
        self.aggregators[partition] = (aggregator, applied)
        return aggregator, applied


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
    wire(app, Wiring(app, settings, sinks))
    return app


def wire(app: faust.App, wiring: Wiring) -> None:
    """Register the agents, the idle timer, the revocation hook and the metrics page."""
    worker = wiring.settings.worker

    # Iterating the topic registers it with Faust's conductor, so the group subscribes to it; done
    # here, before the app starts, so the first subscription includes it.
    inbox = wiring.input.__aiter__().queue

    @app.task
    async def series() -> None:
        gc.freeze()  # what start-up built stays: no need to scan it again
        gc.set_threshold(_GC_GEN0_THRESHOLD, *gc.get_threshold()[1:])
        await wiring.consume(inbox)

    @app.agent(wiring.platform, name="platform")
    async def platform(stream: faust.StreamT) -> None:
        async for event in stream.events():
            await wiring.process_platform(event)

    @app.timer(interval=min(worker.idle_flush_s / 2, worker.checkpoint_interval_s / 2, _INPUT_PAUSED_S / 2),
               name="housekeeping")
    async def housekeeping() -> None:
        await wiring.housekeeping()

    @app.on_partitions_revoked.connect
    async def on_revoked(sender: faust.App, revoked: set[TP], **_: Any) -> None:
        wiring.forget(revoked)

    @app.page("/metrics/")
    async def metrics(web: Any, request: Any) -> Any:
        return web.bytes(generate_latest(wiring.metrics.registry), content_type=_METRICS_CONTENT_TYPE)


def __getattr__(name: str) -> faust.App:
    """`faust -A streams.worker worker`: the app is built on first access, from the settings then."""
    if name != "app":
        raise AttributeError(name)
    built = build_app(load_settings())
    globals()["app"] = built
    return built
