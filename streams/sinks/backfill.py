"""Writing a replayed file's history to InfluxDB with an account of it: what was written and, when
InfluxDB stops accepting writes, what was not, so the user knows what a re-run has to fill in.

A re-run is always safe: every point's tags and time come from the data, so the points already
written are overwritten, never doubled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone

from streams.engine.types import AnomalyEvent, Update
from streams.errors import ServiceError
from streams.settings import InfluxSettings
from streams.sinks.influx import InfluxSink


@dataclass
class CountTally:
    """Count points of one part of the file: how many, of how many series, over which event times."""

    points: int = 0
    series: set[str] = field(default_factory=set)
    first_ms: int | None = None
    last_ms: int | None = None

    def add(self, update: Update) -> None:
        self.points += 1
        self.series.add(update.key)
        ts_ms = update.ts_ms
        if self.first_ms is None or ts_ms < self.first_ms:
            self.first_ms = ts_ms
        if self.last_ms is None or ts_ms > self.last_ms:
            self.last_ms = ts_ms

    def merge(self, other: CountTally) -> None:
        self.points += other.points
        self.series |= other.series
        for ts_ms in (other.first_ms, other.last_ms):
            if ts_ms is not None:
                self.first_ms = ts_ms if self.first_ms is None else min(self.first_ms, ts_ms)
                self.last_ms = ts_ms if self.last_ms is None else max(self.last_ms, ts_ms)

    def describe(self) -> str:
        if not self.points:
            return "0 count points"
        return (f"{self.points:,} count points of {len(self.series):,} series, "
                f"{_utc(self.first_ms)} to {_utc(self.last_ms)}")  # fmt: skip


@dataclass
class BackfillReport:
    bucket: str
    counts_written: CountTally = field(default_factory=CountTally)
    counts_missing: CountTally = field(default_factory=CountTally)
    history_points: int = 0  # series_state and anomaly points the events imply
    history_written: int = 0
    events: int = 0
    failure: str | None = None

    @property
    def complete(self) -> bool:
        return self.failure is None

    def lines(self) -> list[str]:
        """What the user reads at the end: written, then (on failure) missing and how to finish."""
        written = (f"wrote {self.counts_written.points + self.history_written:,} points to InfluxDB bucket "
                   f"{self.bucket}: {self.counts_written.describe()}; "
                   f"{self.history_written:,} of {self.history_points:,} state and anomaly points "
                   f"({self.events:,} events)")  # fmt: skip
        if self.complete:
            return [written]
        missing = [f"not written: {self.counts_missing.describe()}"]
        if self.history_written < self.history_points:
            missing.append(f"{self.history_points - self.history_written:,} state and anomaly points")
        return [
            f"backfill stopped: {self.failure}",
            written,
            "; ".join(missing),
            "re-run the same command once InfluxDB accepts writes: points already written are "
            "overwritten, not doubled",
        ]


async def backfill_async(
    events: Iterable[AnomalyEvent], updates: Iterable[Update], settings: InfluxSettings
) -> BackfillReport:
    """Counts first (flushed batch by batch), then the states and events; stops at the first failed flush."""
    report = BackfillReport(bucket=settings.bucket)
    event_list = list(events)
    report.events = len(event_list)
    sink = InfluxSink(settings)
    unflushed = CountTally()
    remaining: Iterator[Update] = iter(updates if settings.write_counts else ())
    try:
        for update in remaining:
            sink.add_count(update)
            unflushed.add(update)
            if sink.pending >= settings.batch_size:
                await sink.flush()
                report.counts_written.merge(unflushed)
                unflushed = CountTally()
        await sink.flush()
        report.counts_written.merge(unflushed)
        unflushed = CountTally()
        before = sink.written
        sink.add_batch((), event_list)  # a few points per event: well inside the buffer
        report.history_points = sink.pending
        await sink.flush()
        report.history_written = sink.written - before
    except ServiceError as error:
        report.failure = _reason(error, settings)
        report.counts_missing.merge(unflushed)
        for update in remaining:  # the rest of the file, so the user knows the whole gap
            report.counts_missing.add(update)
        if report.history_points == 0:
            report.history_points = _history_points(event_list, settings)
        else:
            report.history_written = max(0, sink.written - report.counts_written.points)
    finally:
        await sink.close()
    return report


def backfill(events: Iterable[AnomalyEvent], updates: Iterable[Update], settings: InfluxSettings) -> BackfillReport:
    """`backfill_async` for synchronous callers (the CLI)."""
    return asyncio.run(backfill_async(events, updates, settings))


def _history_points(events: list[AnomalyEvent], settings: InfluxSettings) -> int:
    # Counted by building them in a sink that is never flushed: the same points a write would send.
    sink = InfluxSink(settings.model_copy(update={"buffer_limit": 50_000_000}))
    sink.add_batch((), events)
    return sink.pending


def _reason(error: ServiceError, settings: InfluxSettings) -> str:
    # The sink's own message ends by promising a next flush that this process will never make.
    cause = error.__cause__
    detail = f"{type(cause).__name__}: {str(cause).splitlines()[0][:160]}" if cause and str(cause) else (
        type(cause).__name__ if cause else str(error))  # fmt: skip
    return f"InfluxDB at {settings.url} did not accept a write for {settings.retry_for_s:g}s ({detail})"


def _utc(ts_ms: int | None) -> str:
    if ts_ms is None:
        return "-"
    return datetime.fromtimestamp(ts_ms / 1000, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
