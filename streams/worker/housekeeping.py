"""Timed work between batches: the idle flush, a checkpoint when one is due, the sinks written when
no series input comes, and the commit watchdog."""

from __future__ import annotations

import time

import faust

from streams.worker.commit_watchdog import CommitWatchdog
from streams.worker.metrics import WorkerMetrics
from streams.worker.series_stage import SeriesStage
from streams.worker.sink_drain import SinkDrain

SINK_SETTLE_S = 1.0  # sinks written at least this often between checkpoints
WATCHDOG_INTERVAL_S = 5.0  # a hole seen at two checks this far apart is stuck, not in flight


class Housekeeping:
    """`tick()` runs from a Faust timer, under the series stage's lock."""

    def __init__(self, app: faust.App, series: SeriesStage, drain: SinkDrain, metrics: WorkerMetrics) -> None:
        self.app, self.series, self.drain, self.metrics = app, series, drain, metrics
        self.watchdog: CommitWatchdog | None = None  # built on first use: the consumer exists then
        self.watched_s = time.monotonic()
        self.settled_s = time.monotonic()

    async def tick(self) -> None:
        series = self.series
        async with series.lock:
            await series.idle_flush()
            if series.checkpoint_due():
                await series.checkpoint()
            elif time.monotonic() - self.settled_s >= SINK_SETTLE_S:
                self.settled_s = time.monotonic()
                await self.drain.settle()  # the platform stage's events, when no series input comes
            now = time.monotonic()
            if now - self.watched_s >= WATCHDOG_INTERVAL_S:
                self.watched_s = now
                if self.watchdog is None:
                    self.watchdog = CommitWatchdog(self.app.consumer, series.input.get_topic_name())
                self.metrics.reread.inc(await self.watchdog.check())
