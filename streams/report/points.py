"""The counts each incident plot shows: picked from the updates in one pass, then thinned to a cap."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from streams.engine import Update
from streams.report.model import PAGE, Incident

MINUTE_MS = 60_000
#: Most points drawn per plot: enough to see every dip of a day of one-minute polls, and a report
#: of a thousand incidents stays a few megabytes.
MAX_POINTS = 360


def plot_window(incident: Incident, data_end_ms: int) -> tuple[int, int]:
    """The time range a plot shows: the incident and context before and after, both sized to it."""
    onset, end = incident.onset_ms, incident.end_ms(data_end_ms)
    if incident.section == PAGE and incident.is_open:
        end = incident.headline.decided_ms + 60 * MINUTE_MS  # open: an hour past the page says enough
    span = max(end - onset, 15 * MINUTE_MS)
    before = min(max(2 * span, 45 * MINUTE_MS), 12 * 60 * MINUTE_MS)
    after = min(max(span, 30 * MINUTE_MS), 6 * 60 * MINUTE_MS)
    return onset - before, max(min(end + after, data_end_ms), end)  # nothing to show past the input


class PointPicker:
    """Keeps the updates that fall inside any incident's plot window, per incident."""

    def __init__(self, windows: dict[str, list[tuple[int, int, str]]]) -> None:
        self._windows = windows  # series key -> [(start ms, end ms, incident anchor)]
        self.points: dict[str, list[tuple[int, float]]] = defaultdict(list)
        self.first_ms: int | None = None  # the time span of every update taken
        self.last_ms: int | None = None

    def take(self, updates: Iterable[Update]) -> None:
        windows, points = self._windows, self.points
        first = last = None
        for update in updates:
            ts = update.ts_ms
            if first is None:
                first = last = ts
            elif ts < first:
                first = ts
            elif ts > last:  # type: ignore[operator]
                last = ts
            wanted = windows.get(update.key)
            if wanted is not None:
                for start, end, anchor in wanted:
                    if start <= ts <= end:
                        points[anchor].append((ts, update.value))
        if first is not None:
            self.first_ms = first if self.first_ms is None else min(self.first_ms, first)
            self.last_ms = last if self.last_ms is None else max(self.last_ms, last)  # type: ignore[type-var]

    def series_of(
        self, anchor: str, start_ms: int, end_ms: int, cap: int = MAX_POINTS
    ) -> tuple[list[tuple[int, float]], int]:
        """The incident's points between the times, in time order, thinned to at most `cap`; and how
        many there were."""
        raw = sorted({p for p in self.points.get(anchor, ()) if start_ms <= p[0] <= end_ms})
        return thin(raw, cap), len(raw)


def thin(points: list[tuple[int, float]], cap: int) -> list[tuple[int, float]]:
    """At most `cap` points that keep every dip: per time bucket, its lowest and highest point.

    >>> thin([(t, float(t % 7)) for t in range(100)], 10)[:4]
    [(0, 0.0), (6, 6.0), (20, 6.0), (21, 0.0)]
    >>> len(thin([(t, 1.0) for t in range(5)], 10))
    5
    """
    if len(points) <= cap:
        return points
    buckets = max(1, cap // 2)
    start, end = points[0][0], points[-1][0]
    width = (end - start) / buckets or 1
    kept: list[tuple[int, float]] = []
    bucket: list[tuple[int, float]] = []
    current = 0
    for point in points:
        index = min(int((point[0] - start) / width), buckets - 1)
        if index != current and bucket:
            kept.extend(_extremes(bucket))
            bucket = []
        current = index
        bucket.append(point)
    kept.extend(_extremes(bucket))
    return kept


def _extremes(bucket: list[tuple[int, float]]) -> list[tuple[int, float]]:
    low = min(bucket, key=lambda p: p[1])
    high = max(bucket, key=lambda p: p[1])
    return sorted({low, high})
