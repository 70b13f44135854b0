"""Helpers to write engine tests as tables of (minute, value) rows."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from streams.engine import AnomalyEvent, Detector, DetectorConfig, Update

T0 = 1_795_000_000_000 // 3_600_000 * 3_600_000  # a whole hour, so epochs line up
MINUTE = 60_000


def updates(rows: Iterable[tuple[float, float]], key: str = "x/acme/followers") -> list[Update]:
    platform, account, metric, *post = key.split("/")
    return [
        Update(platform, account, metric, post[0] if post else None, float(v), T0 + int(m * MINUTE))
        for m, v in rows
    ]


def growing(start_min: int, end_min: int, value: float, per_min: float) -> list[tuple[float, float]]:
    """A normal series: one poll a minute, growing by `per_min` counts a minute."""
    return [(m, round(value + per_min * (m - start_min))) for m in range(start_min, end_min)]


def run(
    items: Sequence[Update],
    config: DetectorConfig | None = None,
    batch: int | None = None,
    after_batch: Callable[[Detector], None] | None = None,
) -> list[AnomalyEvent]:
    """One detector's events for `items`, then its flush: all at once, or in `batch`-sized
    `observe_many` calls with `after_batch(detector)` after each."""
    detector = Detector(config or DetectorConfig())
    batches = [items] if batch is None else [items[start : start + batch] for start in range(0, len(items), batch)]
    events: list[AnomalyEvent] = []
    for chunk in batches:
        events += detector.observe_many(chunk)
        if after_batch is not None:
            after_batch(detector)
    return events + detector.flush()


def kinds(events: Iterable[AnomalyEvent]) -> list[tuple[str, str]]:
    return [(e.kind.value, e.cause.value) for e in events]


def minute_of(ms: int) -> float:
    return (ms - T0) / MINUTE
