"""The platform stage: each source partition's platform deltas forwarded to the platform topic, and
the aggregator per platform-topic partition that decides platform incidents from them."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import faust
import orjson
from faust.types import EventT

from streams.engine import Detector, DetectorConfig
from streams.engine.platform import PlatformAggregator, PlatformDelta
from streams.formats.state import decode_platform_state, encode_platform_state
from streams.worker.confirmed_table import confirmed_table
from streams.worker.publishing import EventPublisher
from streams.worker.table_writes import partition_of


class PlatformStage:
    """Forwarding (called by the series stage) and aggregation (the platform agent's messages)."""

    def __init__(self, app: faust.App, topic_name: str, config: DetectorConfig, partitions: int,
                 publisher: EventPublisher) -> None:  # fmt: skip
        self.topic = app.topic(topic_name, value_type=bytes, value_serializer="raw")
        # One entry per platform-topic partition, written while that partition's message is the
        # current event, so Faust restores it wherever the partition moves.
        self.table = confirmed_table(app, "platform_state", key_type=bytes, value_type=bytes)
        self.config, self.partitions, self.publisher = config, partitions, publisher
        self.aggregators: dict[int, tuple[PlatformAggregator, int]] = {}  # with the last offset applied

    async def forward(self, source: int, detector: Detector) -> None:
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
            sending.append(await self.topic.send(key=str(source).encode(), value=orjson.dumps(body), partition=target))
        await asyncio.gather(*sending)  # the broker has them: only now may the series that made them be saved

    async def apply(self, event: EventT) -> None:
        """Apply one source's deltas and watermark, publish what that decides, save the aggregator.

        The saved state carries the offset it has applied, so a message read again after a
        crash (saved, not yet committed) is skipped instead of counted twice; the save is on the
        changelog before the message is acknowledged, so a commit never passes it."""
        partition, offset = event.message.partition, event.message.offset
        aggregator, applied = self._aggregator(partition)
        if offset <= applied:
            return
        body = orjson.loads(event.message.value)
        for fields in body["deltas"]:
            aggregator.add(PlatformDelta(*fields))
        await self.publisher.emit(aggregator.advance(body["watermark_ms"], body["source"]))
        self.aggregators[partition] = (aggregator, offset)
        self.table[str(partition).encode()] = encode_platform_state(aggregator.export_state(), offset)
        await self.table.confirmed()  # Faust acknowledges the message when this returns

    def forget(self, partition: int) -> None:
        """A platform partition that moved to another worker: its aggregator lives on in the table."""
        self.aggregators.pop(partition, None)

    def _aggregator(self, partition: int) -> tuple[PlatformAggregator, int]:
        """A platform partition's aggregator, restored from the table when this worker is new to it."""
        known = self.aggregators.get(partition)
        if known is not None:
            return known
        aggregator = PlatformAggregator(self.config, sources=tuple(str(p) for p in range(self.partitions)))
        applied = -1
        saved = self.table.get(str(partition).encode())
        if saved is not None:
            state, applied = decode_platform_state(saved)
            aggregator.import_state(state)
        self.aggregators[partition] = (aggregator, applied)
        return aggregator, applied
