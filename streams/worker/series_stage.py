"""The series stage: the input drained in bulk, each partition's updates through its detector,
events published, series saved, and input acknowledged only at checkpoints."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Sequence

import faust
from faust.types import TP, EventT, Message

from streams.formats.codec import Rejected, decode_message
from streams.engine import AnomalyEvent, Detector, DetectorConfig, Scope, Update
from streams.settings import Settings
from streams.worker.dead_letters import DeadLetters
from streams.worker.lag import LagMonitor
from streams.worker.platform_stage import PlatformStage
from streams.worker.publishing import EventPublisher
from streams.worker.series_table import SeriesTable
from streams.worker.sink_drain import SinkDrain

INPUT_PAUSED_S = 0.2  # no batch for this long: the worker has caught up with its input
_TOMBSTONE = Rejected("no_value", "the message has no value (a tombstone): nothing to decode", b"")


class SeriesStage:
    """One detector per input partition, the series table, and the checkpoints that tie them to
    the input's acknowledgements. Every method that touches detectors or the table runs under
    `lock` (the bulk drain and the housekeeping timer take turns)."""

    def __init__(self, app: faust.App, settings: Settings, config: DetectorConfig, *, lag: LagMonitor,
                 dead_letters: DeadLetters, publisher: EventPublisher, platform: PlatformStage,
                 drain: SinkDrain) -> None:  # fmt: skip
        kafka = settings.kafka
        self.app, self.settings, self.config = app, settings, config
        self.lag, self.dead_letters, self.publisher, self.platform, self.drain = lag, dead_letters, publisher, platform, drain
        self.input = app.topic(kafka.input_topic, key_type=bytes, value_type=bytes, value_serializer="raw")
        self.table = SeriesTable(app, kafka.input_topic, kafka.partitions)
        self.detectors: dict[int, Detector] = {}
        self.last_data_s: dict[int, float] = {}
        self.unacked: list[Message] = []  # processed, acknowledged at the next checkpoint
        self.last_batch_s = 0.0
        self.checkpointed_s = time.monotonic()
        self.lock = asyncio.Lock()

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
                if self.checkpoint_due():
                    await self.checkpoint()

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
        self.lag.record(last_offset)

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
            await self.dead_letters.send_all(rejects)
        self.lag.observed(len(updates))
        detector = self.detector(partition)
        self.table.load_unseen(detector, updates)
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
        the output topic are not sent again (`EventPublisher.published_before`). A saved series
        ahead of the committed offset takes the re-read updates as duplicates and owes no delta.
        Every other series is saved at the next checkpoint, after its deltas went the same way.
        Left open: a crash after the broker took a batch of deltas and before the save (a few
        milliseconds) sends those deltas again and the platform stage counts them twice; closing it
        needs Kafka transactions (Faust's exactly_once).
        """
        await self.publisher.emit(found, updates, skip=await self.publisher.published_before(partition))
        deciding = {event.series for event in found if event.scope is Scope.SERIES}
        if deciding:
            await self.platform.forward(partition, detector)
            self.table.save(detector, deciding)

    def checkpoint_due(self) -> bool:
        """Processed input waits, and: the interval has passed, too many messages wait (they are
        held in memory), the input has paused (the worker has caught up, so saving costs no
        throughput and commits sooner), or a rebalance waits for them (Faust suspends flow)."""
        worker, now = self.settings.worker, time.monotonic()
        return bool(self.unacked) and (
            now - self.checkpointed_s >= worker.checkpoint_interval_s
            or len(self.unacked) >= worker.checkpoint_max_messages
            or now - self.last_batch_s >= INPUT_PAUSED_S
            or not self.app.flow_control.is_active()
        )

    async def checkpoint(self) -> None:
        """Forward the platform deltas, save every series touched since the last checkpoint, then
        acknowledge the batches they came from: Faust commits only what is acknowledged, so the
        committed offsets never pass the saved state. One write per series per checkpoint,
        however many updates it had, is what keeps one update per message cheap."""
        for partition, detector in list(self.detectors.items()):
            await self.platform.forward(partition, detector)  # delivered before the series that made them are saved
            self.table.save(detector, detector.touched_keys())
        await self.drain.settle()  # points written before their offsets are acknowledged, while sinks are up
        consumer = self.app.consumer
        for message in self.unacked:
            message.ack(consumer)
        self.unacked = []
        self.checkpointed_s = time.monotonic()

    def detector(self, partition: int) -> Detector:
        """A partition's detector, with every saved series of the partition scheduled again."""
        detector = self.detectors.get(partition)
        if detector is None:
            detector = self.detectors[partition] = Detector(self.config, platforms=None)
            self.table.restore_partition(detector, partition)
        return detector

    async def idle_flush(self) -> None:
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
            await self.checkpoint()

    def forget(self, tp: TP) -> None:
        """An input partition that moved to another worker: its state lives on in the table."""
        self.detectors.pop(tp.partition, None)
        self.last_data_s.pop(tp.partition, None)
        self.lag.forget(tp.partition)
        self.publisher.forget(tp.partition)
