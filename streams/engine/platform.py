"""Platform incidents: many series of one platform and metric dropping together become one event.

Each Detector (one per Kafka partition in the worker) reports what its series did as small
additive `PlatformDelta`s keyed by platform, metric and onset minute; a `PlatformAggregator`
sums them, from one source (replay) or many partitions (the worker's second stage), and decides
once every source's watermark has passed. Sums and order statistics do not depend on which
partition saw which series, so two workers find the same incidents as one.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from streams.engine.config import HOUR_MS, MINUTE_MS, DetectorConfig
from streams.engine.messages import describe
from streams.engine.types import AnomalyEvent, Cause, Kind, Scope

@dataclass(slots=True)  # not frozen: a frozen dataclass is built 5x slower, one per series-hour
class PlatformDelta:
    """One series' contribution: `active` counts a series once per hour (`bucket_ms` is the hour);
    the others count a dip by its onset minute, with `at_ms` the onset or the decision time."""

    kind: str
    platform: str
    metric: str
    bucket_ms: int
    at_ms: int
    baseline: float = 0.0
    low: float = 0.0
    cause: str = ""


@dataclass
class _Bucket:
    opened: int = 0
    glitched: int = 0
    paged: int = 0
    first_onset_ms: int = 2**62
    baseline: float = 0.0  # sums over paged (else glitched) members
    low: float = 0.0
    glitch_baseline: float = 0.0
    glitch_low: float = 0.0
    causes: dict[str, int] = field(default_factory=dict)
    recoveries: list[int] = field(default_factory=list)


@dataclass
class _Incident:
    onset_ms: int
    first_bucket: int
    last_bucket: int
    paged: int
    baseline: float
    low: float
    affected: int
    of: int


@dataclass
class _Track:
    buckets: dict[int, _Bucket] = field(default_factory=dict)
    active: dict[int, int] = field(default_factory=dict)
    scanned_until: int = 0
    open_incidents: list[_Incident] = field(default_factory=list)


class PlatformAggregator:
    """Sums platform deltas and emits platform-scope events on the slowest source's watermark.

    >>> agg = PlatformAggregator(DetectorConfig())
    >>> agg.advance(0)
    []
    """

    def __init__(self, config: DetectorConfig, sources: tuple[str, ...] = ("local",)) -> None:
        self._cfg = config
        self._sources = sources
        self._marks: dict[str, int] = {}
        self._tracks: dict[tuple[str, str], _Track] = {}

    def export_state(self) -> dict[str, Any]:
        """Everything the aggregator holds, as plain JSON-ready values, so a second stage that
        moves to another worker (a rebalance, a restart) resumes its open incidents."""
        tracks = [
            {
                "platform": platform,
                "metric": metric,
                "buckets": [[start, asdict(bucket)] for start, bucket in track.buckets.items()],
                "active": [[hour, count] for hour, count in track.active.items()],
                "scanned_until": track.scanned_until,
                "open_incidents": [asdict(incident) for incident in track.open_incidents],
            }
            for (platform, metric), track in self._tracks.items()
        ]
        return {"marks": dict(self._marks), "tracks": tracks}

    def import_state(self, state: dict[str, Any]) -> None:
        """Take over what `export_state()` gave, replacing anything held."""
        self._marks = {str(source): int(mark) for source, mark in state["marks"].items()}
        self._tracks = {
            (entry["platform"], entry["metric"]): _Track(
                buckets={int(start): _Bucket(**fields) for start, fields in entry["buckets"]},
                active={int(hour): int(count) for hour, count in entry["active"]},
                scanned_until=int(entry["scanned_until"]),
                open_incidents=[_Incident(**fields) for fields in entry["open_incidents"]],
            )
            for entry in state["tracks"]
        }

    def add(self, delta: PlatformDelta) -> None:
        track = self._tracks.setdefault((delta.platform, delta.metric), _Track())
        if delta.kind == "active":
            track.active[delta.bucket_ms] = track.active.get(delta.bucket_ms, 0) + 1
            return
        bucket = track.buckets.setdefault(delta.bucket_ms, _Bucket())
        if delta.kind == "opened":
            bucket.opened += 1
            bucket.first_onset_ms = min(bucket.first_onset_ms, delta.at_ms)
        elif delta.kind == "glitch":
            bucket.glitched += 1
            bucket.glitch_baseline += delta.baseline
            bucket.glitch_low += delta.low
        elif delta.kind == "paged":
            bucket.paged += 1
            bucket.baseline += delta.baseline
            bucket.low += delta.low
            bucket.causes[delta.cause] = bucket.causes.get(delta.cause, 0) + 1
        elif delta.kind == "recovered":
            bucket.recoveries.append(delta.at_ms)
        else:
            raise ValueError(f"unknown platform delta kind {delta.kind!r}")

    def advance(self, watermark_ms: int, source: str = "local") -> list[AnomalyEvent]:
        """Record a source's watermark; decide what every source has now passed."""
        if watermark_ms > self._marks.get(source, -(2**62)):
            self._marks[source] = watermark_ms
        if any(name not in self._marks for name in self._sources):
            return []
        watermark = min(self._marks[name] for name in self._sources)
        events: list[AnomalyEvent] = []
        for (platform, metric), track in self._tracks.items():
            events.extend(self._find_incidents(platform, metric, track, watermark))
            events.extend(self._find_recoveries(platform, metric, track, watermark))
            self._prune(track, watermark)
        events.sort(key=AnomalyEvent.sort_key)
        return events

    def _find_incidents(
        self, platform: str, metric: str, track: _Track, watermark: int
    ) -> list[AnomalyEvent]:
        cfg = self._cfg
        window = cfg.platform_window_ms
        events = []
        for start in sorted(track.buckets):
            if start < track.scanned_until or track.buckets[start].opened == 0:
                continue
            if start + 2 * window + cfg.hold_ms > watermark:
                break  # members of the best window from here may still be undecided
            affected = self._opened(track, start)
            of = max(track.active.get(start // HOUR_MS * HOUR_MS - HOUR_MS, 0), affected)
            needed = max(cfg.platform_min_series, math.ceil(cfg.platform_min_fraction * of))
            if affected < needed:
                track.scanned_until = start + MINUTE_MS
                continue
            # A stray dip just before the incident must not date it: slide to the fullest window.
            best = max(range(start, start + window, MINUTE_MS), key=lambda b: (self._opened(track, b), -b))
            affected = self._opened(track, best)
            of = max(of, affected)
            track.scanned_until = best + window
            members = [track.buckets[b] for b in range(best, best + window, MINUTE_MS) if b in track.buckets]
            event = self._classify(platform, metric, track, best, members, affected, of)
            if event is not None:
                events.append(event)
        return events

    def _opened(self, track: _Track, start: int) -> int:
        """Dips opened in the window of onsets starting at `start`."""
        buckets = track.buckets
        return sum(
            buckets[b].opened
            for b in range(start, start + self._cfg.platform_window_ms, MINUTE_MS)
            if b in buckets
        )

    def _classify(
        self, platform: str, metric: str, track: _Track, start: int,
        members: list[_Bucket], affected: int, of: int,
    ) -> AnomalyEvent | None:  # fmt: skip
        cfg = self._cfg
        paged = sum(m.paged for m in members)
        glitched = sum(m.glitched for m in members)
        if paged + glitched == 0:
            return None
        onset = min(m.first_onset_ms for m in members)
        decided = start + cfg.platform_window_ms + cfg.hold_ms
        if paged >= glitched:
            baseline, low = sum(m.baseline for m in members), sum(m.low for m in members)
            causes: dict[str, int] = {}
            for member in members:
                for name, count in member.causes.items():
                    causes[name] = causes.get(name, 0) + count
            cause = Cause(max(sorted(causes), key=causes.__getitem__))
            kind = Kind.SUSTAINED_DROP
            last = start + cfg.platform_window_ms - MINUTE_MS
            track.open_incidents.append(_Incident(onset, start, last, paged, baseline, low, affected, of))
        else:
            baseline = sum(m.glitch_baseline for m in members)
            low = sum(m.glitch_low for m in members)
            kind, cause = Kind.GLITCH, Cause.GLITCH
        return _platform_event(kind, platform, metric, onset, decided, baseline, low, cause, affected, of)

    def _find_recoveries(
        self, platform: str, metric: str, track: _Track, watermark: int
    ) -> list[AnomalyEvent]:
        events = []
        for incident in list(track.open_incidents):
            times = sorted(
                t
                for b in range(incident.first_bucket, incident.last_bucket + 1, MINUTE_MS)
                if b in track.buckets
                for t in track.buckets[b].recoveries
            )
            needed = math.ceil(self._cfg.recover_fraction * incident.paged)
            if len(times) >= needed and times[needed - 1] <= watermark:
                track.open_incidents.remove(incident)
                events.append(
                    _platform_event(
                        Kind.RECOVERY, platform, metric, incident.onset_ms, times[needed - 1],
                        incident.baseline, incident.low, Cause.OUTAGE, incident.affected, incident.of,
                    )  # fmt: skip
                )
            elif watermark - incident.onset_ms > self._cfg.settle_ms:
                track.open_incidents.remove(incident)
        return events

    def _prune(self, track: _Track, watermark: int) -> None:
        """Forget buckets no incident can still need, so the aggregator's memory stays bounded."""
        keep_from = min([i.first_bucket for i in track.open_incidents], default=watermark)
        horizon = min(keep_from, watermark - self._cfg.platform_window_ms - self._cfg.hold_ms - HOUR_MS)
        for start in [b for b in track.buckets if b < horizon and b < track.scanned_until]:
            del track.buckets[start]
        for hour in [h for h in track.active if h < watermark - 3 * HOUR_MS]:
            del track.active[hour]


def _platform_event(
    kind: Kind, platform: str, metric: str, onset: int, decided: int,
    baseline: float, low: float, cause: Cause, affected: int, of: int,
) -> AnomalyEvent:  # fmt: skip
    who = f"{platform} {metric}: {affected} of {of} series"
    message = describe(kind, who, baseline, low, onset, decided, cause)
    return AnomalyEvent(
        kind, Scope.PLATFORM, platform, None, metric, None, onset, decided, baseline, low, cause,
        message, affected=affected, of=of,
    )  # fmt: skip
