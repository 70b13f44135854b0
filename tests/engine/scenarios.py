"""Helpers to write engine tests as tables of (minute, value) rows."""

from __future__ import annotations

from collections.abc import Iterable

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


def run(items: Iterable[Update], config: DetectorConfig | None = None) -> list[AnomalyEvent]:
    detector = Detector(config or DetectorConfig())
    events = detector.observe_many(items)
    return events + detector.flush()


def kinds(events: Iterable[AnomalyEvent]) -> list[tuple[str, str]]:
    return [(e.kind.value, e.cause.value) for e in events]


def minute_of(ms: int) -> float:
    return (ms - T0) / MINUTE
