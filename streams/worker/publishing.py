"""Anomaly events out: to the output topic at once, into the sinks' buffers for the next checkpoint,
and never twice after a re-read (the ids already on the output partition are skipped)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from streams.formats.codec import encode_event
from streams.engine import AnomalyEvent, Kind, Scope, Update
from streams.settings import KafkaSettings
from streams.worker.metrics import WorkerMetrics
from streams.worker.output_tail import published_ids
from streams.worker.sink_drain import SinkDrain

log = logging.getLogger(__name__)


class EventPublisher:
    """Both stages publish through it: the series stage per input partition, the platform stage."""

    def __init__(self, output: Any, kafka: KafkaSettings, metrics: WorkerMetrics, drain: SinkDrain) -> None:
        self.output, self.kafka, self.metrics, self.drain = output, kafka, metrics, drain
        self.published: dict[int, set[str]] = {}  # input partition -> event ids already on its output partition

    async def published_before(self, partition: int) -> set[str]:
        """Ids this partition's events already have on the output topic, read once per assignment
        (streams/worker/output_tail.py): a re-read after a crash or a move publishes none twice."""
        ids = self.published.get(partition)
        if ids is None:
            kafka = self.kafka
            ids = self.published[partition] = await published_ids(kafka.bootstrap_servers, kafka.output_topic, partition)
        return ids

    def forget(self, partition: int) -> None:
        self.published.pop(partition, None)

    async def emit(
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
