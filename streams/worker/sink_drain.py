"""The worker's side of its sinks (InfluxDB, Grafana annotations): an outage delays points, never the job.

While a sink is up, its points are written at each checkpoint before the offsets they came from are
acknowledged, so a crash loses none. When a write fails, the sink is marked down: the worker says so
once, anomalies keep going to Kafka, points wait in the sink's bounded buffer (the oldest dropped and
counted when it is full), and a background task retries with backoff until the sink answers, then
says once that it is back and what it wrote. A crash during an outage loses the waiting points
(`dipwatch backfill` rewrites a time range).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Protocol

from prometheus_client import CollectorRegistry, Gauge

from streams.engine import AnomalyEvent, Update

log = logging.getLogger(__name__)

_RETRY_FIRST_S = 1.0
_RETRY_MAX_S = 10.0


class BatchSink(Protocol):
    """Where a processed batch goes besides Kafka; the CLI builds sinks from settings, so the worker
    never imports another adapter."""

    name: str  # for the log: "InfluxDB", "Grafana"

    @property
    def target(self) -> str: ...  # the URL, for the log (never with credentials)

    @property
    def pending(self) -> int: ...  # items waiting to be written

    @property
    def dropped(self) -> int: ...  # items dropped because the buffer was full, over the sink's life

    def add_batch(self, updates: Sequence[Update], events: list[AnomalyEvent]) -> None: ...

    async def flush(self, patience_s: float | None = None) -> int: ...


class SinkDrain:
    """Each sink's health, its writes at checkpoints while up, its retries while down."""

    def __init__(self, sinks: Sequence[BatchSink], registry: CollectorRegistry) -> None:
        self.sinks = tuple(sinks)
        self.down_since: dict[int, float] = {}  # sink index -> wall time it went down
        self._retries: dict[int, asyncio.Task[None]] = {}
        self._up = Gauge("dipwatch_sink_up", "1 while the sink accepts writes", ["sink"], registry=registry)
        self._waiting = Gauge("dipwatch_sink_buffered", "Points waiting for the sink", ["sink"], registry=registry)
        self._dropped = Gauge("dipwatch_sink_dropped", "Points dropped because the sink's buffer was full",
                              ["sink"], registry=registry)  # fmt: skip
        for sink in self.sinks:
            self._up.labels(sink.name).set(1)

    def add_batch(self, updates: Sequence[Update], events: list[AnomalyEvent]) -> None:
        for sink in self.sinks:
            sink.add_batch(updates, events)

    async def settle(self) -> None:
        """Write what every sink that is up holds (one attempt); a failure marks it down, never raises."""
        for index, sink in enumerate(self.sinks):
            if index not in self.down_since and sink.pending:
                try:
                    await sink.flush(patience_s=0)
                except Exception as error:  # whatever the client raises: the sink is down, not the job
                    self._went_down(index, sink, error)
            self._export(sink)

    def _went_down(self, index: int, sink: BatchSink, error: BaseException) -> None:
        self.down_since[index] = time.time()
        self._up.labels(sink.name).set(0)
        log.warning(
            "%s at %s cannot be written (%s): anomalies still go to Kafka; its points wait in memory "
            "(%d now; beyond the buffer limit the oldest are dropped and counted) and are written when it is back",
            sink.name, sink.target, _first_line(error), sink.pending,
        )  # fmt: skip
        self._retries[index] = asyncio.ensure_future(self._retry(index, sink))

    async def _retry(self, index: int, sink: BatchSink) -> None:
        delay_s, dropped_before = _RETRY_FIRST_S, sink.dropped
        while True:
            await asyncio.sleep(delay_s)
            try:
                written = await sink.flush(patience_s=0)
            except Exception:  # still down: said once already
                delay_s = min(delay_s * 2, _RETRY_MAX_S)
                self._export(sink)
                continue
            outage_s = time.time() - self.down_since.pop(index)
            self._retries.pop(index, None)
            self._up.labels(sink.name).set(1)
            self._export(sink)
            log.warning(
                "%s at %s is back after %.0f s: wrote %d waiting points, dropped %d while it was away",
                sink.name, sink.target, outage_s, written, sink.dropped - dropped_before,
            )  # fmt: skip
            return

    def _export(self, sink: BatchSink) -> None:
        self._waiting.labels(sink.name).set(sink.pending)
        self._dropped.labels(sink.name).set(sink.dropped)

    def stop(self) -> None:
        for task in self._retries.values():
            task.cancel()


def _first_line(error: BaseException) -> str:
    # The class and first line of the message: clients put requests (and their auth headers) further down.
    text = str(error).splitlines()[0][:200] if str(error) else ""
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
