"""How far behind its input the worker is, per partition: the lag gauge and the catch-up log."""

from __future__ import annotations

import faust
from faust.types import TP

from streams.worker.metrics import WorkerMetrics
from streams.worker.progress_log import CatchUpLog


class LagMonitor:
    """Fed after each batch with the last offset read per partition; compares with the high water."""

    def __init__(self, app: faust.App, input_topic: str, metrics: WorkerMetrics) -> None:
        self.app, self.input_topic, self.metrics = app, input_topic, metrics
        self.catch_up = CatchUpLog()
        self.lag: dict[int, int] = {}  # input partition -> messages behind, after its last batch

    def observed(self, updates: int) -> None:
        self.metrics.updates.inc(updates)
        self.catch_up.observed(updates)

    def record(self, last_offset: dict[int, int]) -> None:
        consumer = self.app.consumer
        for partition, offset in last_offset.items():
            highwater = consumer.highwater(TP(self.input_topic, partition))
            if highwater is not None:
                self.lag[partition] = max(highwater - offset - 1, 0)
                self.metrics.lag.labels(str(partition)).set(self.lag[partition])
        self.catch_up.lag_is(sum(self.lag.values()))

    def forget(self, partition: int) -> None:
        self.lag.pop(partition, None)
