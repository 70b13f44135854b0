"""The worker: a Faust app whose series stage drains the input in bulk and checkpoints, whose
platform stage decides platform incidents, with dead letters, lag and metrics; no detection logic.

Each part has its module: `faust_app` (the Faust app, agents and timer), `series_stage` (batches,
detectors, checkpoints) with `series_table` (table reads and writes), `platform_stage` (forwarding
and aggregation), `publishing` (events out), `dead_letters`, `lag`, `housekeeping`, `metrics`.
This package only re-exports; `faust -A streams.worker worker` finds `app` here.
"""

from __future__ import annotations

import faust

from streams.settings import load_settings
from streams.worker.faust_app import FETCH_BYTES_PER_PARTITION, WorkerParts, build_app, wire
from streams.worker.sink_drain import BatchSink
from streams.worker.table_writes import partition_of

__all__ = ["FETCH_BYTES_PER_PARTITION", "BatchSink", "WorkerParts", "build_app", "partition_of", "wire"]


def __getattr__(name: str) -> faust.App:
    """`faust -A streams.worker worker`: the app is built on first access, from the settings then."""
    if name != "app":
        raise AttributeError(name)
    built = build_app(load_settings())
    globals()["app"] = built
    return built
