"""The report's facts, from anomaly events alone: incidents in on-call order, drop intervals, pages per day."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from streams.engine import AnomalyEvent, Kind, Scope

DAY_MS = 86_400_000

#: Sections in the order on-call reads them: what paged, what hit a whole platform, what did not page.
PAGE, PLATFORM, GLITCH, STALL = "page", "platform", "glitch", "stall"
SECTION_ORDER = (PAGE, PLATFORM, GLITCH, STALL)
SECTION_TITLES = {
    PAGE: "Pages",
    PLATFORM: "Platform incidents",
    GLITCH: "Glitches (shown, never paged)",
    STALL: "Growth stalls",
}


@dataclass
class Incident:
    """One incident (a series or platform, from one onset) and every event decided about it."""

    anchor: str
    section: str
    events: list[AnomalyEvent] = field(default_factory=list)

    @property
    def first(self) -> AnomalyEvent:
        return self.events[0]

    @property
    def series(self) -> str:
        return self.first.series

    @property
    def onset_ms(self) -> int:
        return self.first.onset_ms

    def decided(self, kind: Kind) -> int | None:
        """When the event of this kind was decided, None when there was none."""
        return next((e.decided_ms for e in self.events if e.kind is kind), None)

    @property
    def headline(self) -> AnomalyEvent:
        """The event that names the incident: its page, else its first decision."""
        return next((e for e in self.events if e.kind is Kind.SUSTAINED_DROP), self.first)

    @property
    def is_open(self) -> bool:
        """Paged and never recovered: still down at the end of the input."""
        return self.decided(Kind.SUSTAINED_DROP) is not None and self.decided(Kind.RECOVERY) is None

    def end_ms(self, data_end_ms: int) -> int:
        """Until when the series was down: recovery, glitch decision, or the end of the input."""
        for kind in (Kind.RECOVERY, Kind.GLITCH):
            at = self.decided(kind)
            if at is not None:
                return at
        if self.first.kind is Kind.GROWTH_STALL:
            return self.first.decided_ms
        return max(data_end_ms, self.headline.decided_ms)


def _section(events: list[AnomalyEvent]) -> str:
    if events[0].scope is Scope.PLATFORM:
        return PLATFORM
    kinds = {e.kind for e in events}
    if Kind.SUSTAINED_DROP in kinds:
        return PAGE
    if Kind.GROWTH_STALL in kinds:
        return STALL
    return GLITCH


def incidents_in_order(events: list[AnomalyEvent]) -> list[Incident]:
    """Events grouped by incident; pages first (still down before resolved, newest first), then
    platform incidents (newest first), glitches (largest first) and growth stalls."""
    grouped: dict[str, list[AnomalyEvent]] = defaultdict(list)
    for event in sorted(events, key=AnomalyEvent.sort_key):
        grouped[event.incident_id].append(event)
    incidents = [Incident(f"i{n}", _section(group), group) for n, group in enumerate(grouped.values(), 1)]
    rank = {name: n for n, name in enumerate(SECTION_ORDER)}

    def order(incident: Incident) -> tuple:
        head = incident.headline
        if incident.section == GLITCH:
            return (rank[GLITCH], -head.drop_pct, head.decided_ms)
        return (rank[incident.section], not incident.is_open, -head.decided_ms)

    return sorted(incidents, key=order)


def drop_intervals(incidents: list[Incident], data_end_ms: int) -> dict[tuple[str, str], list[tuple[int, int]]]:
    """Per (platform, metric): when each series was down, from onset to its glitch, recovery or the end."""
    intervals: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
    for incident in incidents:
        if incident.section in (PAGE, GLITCH):
            head = incident.headline
            intervals[(head.platform, head.metric)].append((incident.onset_ms, incident.end_ms(data_end_ms)))
    return intervals


def dropping_counts(intervals: list[tuple[int, int]]) -> list[tuple[int, float]]:
    """A step function: how many series were down, at every moment the number changed.

    >>> dropping_counts([(0, 10), (5, 20)])
    [(0, 1.0), (5, 2.0), (10, 1.0), (20, 0.0)]
    """
    changes: Counter[int] = Counter()
    for start, end in intervals:
        changes[start] += 1
        changes[end] -= 1
    level, steps = 0, []
    for at in sorted(changes):
        level += changes[at]
        steps.append((at, float(level)))
    return steps


def pages_per_day(events: list[AnomalyEvent]) -> list[tuple[int, int, int]]:
    """(day start ms, series pages, platform pages) for every day from the first page to the last."""
    series: Counter[int] = Counter()
    platform: Counter[int] = Counter()
    for event in events:
        if event.kind is Kind.SUSTAINED_DROP:
            day = event.decided_ms // DAY_MS * DAY_MS
            (platform if event.scope is Scope.PLATFORM else series)[day] += 1
    days = set(series) | set(platform)
    if not days:
        return []
    return [(d, series[d], platform[d]) for d in range(min(days), max(days) + 1, DAY_MS)]
