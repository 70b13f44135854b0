"""Score anomaly events against the simulator's truth: recall, precision, glitch handling, time to page.

Pure: events are the contract's output dicts, truth is the decoded truth.json; the CLI reads the files.

Matching rules (times in event time; "3 min" is the onset tolerance ``ONSET_SLACK_MS``):

- Only ``scope=series`` events of kind ``sustained_drop`` (a page), ``glitch`` and ``recovery`` are matched
  to series incidents, by series key ``platform/account/metric[/post]``. An event matches an incident
  when its ``onset`` lies in ``[onset_ms - 3 min, end_ms]`` (``onset_ms + 48 h`` when ``end_ms`` is null).
  When several incidents of the series cover that onset, the one that started last wins.
- A recovery is valid when its incident ``recovers`` and it was decided at or after ``end_ms - 3 min``;
  every other recovery is a false recovery.
- Duplicate pages: pages beyond the first matched to one incident, plus unmatched pages on a series that
  still has an earlier page not yet resolved by a recovery.
- ``growth_stall`` events match stall incidents of the series with onset in ``[onset_ms - 3 h, onset_ms + 6 h]``.
- ``scope=platform`` events of kind ``sustained_drop`` or ``glitch`` match a truth platform incident of
  the same platform and metric with onset in ``[onset_ms - 3 min, onset_ms + 10 min]``; one is classified
  right when its matches include the expected kind (page: sustained_drop, glitch: glitch) and not the other.
- Time to page: first matched page's ``decided`` minus the truth ``onset_ms``, over paged page incidents;
  percentiles by the nearest-rank method (the smallest value with at least p % of values at or below it).
- Ratios with an empty denominator are vacuous: 1.0 for recalls, precision and handled shares, 0.0 for
  ``glitch_page_rate``.
"""

from __future__ import annotations

import math
import operator
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from streams.formats.codec import parse_time_ms
from streams.engine.config import HOUR_MS, MINUTE_MS
from streams.engine.types import series_key

#: Detectors date a drop from the last normal observation, so an onset may precede the truth a little.
ONSET_SLACK_MS = 3 * MINUTE_MS
#: An incident without an end is searched this long: the detector accepts a new level after 48 h.
OPEN_INCIDENT_MS = 48 * HOUR_MS
#: Stalls are judged window against window (hours), so their onset is only known roughly.
STALL_BEFORE_MS = 3 * HOUR_MS
STALL_AFTER_MS = 6 * HOUR_MS
#: A platform incident is recognised once enough series dropped, which may take a few minutes.
PLATFORM_AFTER_MS = 10 * MINUTE_MS

PAGE, GLITCH, RECOVERY, STALL = "sustained_drop", "glitch", "recovery", "growth_stall"


@dataclass(frozen=True)
class Scores:
    """Every metric of one detector on one truth, plus the counts they were computed from."""

    detector: str
    pages: int
    page_recall: float
    page_precision: float
    glitch_page_rate: float
    glitch_recall: float
    long_glitches_handled: float
    false_recoveries: int
    duplicate_pages: int
    platform_found: int
    platform_total: int
    platform_classified: int
    stall_recall: float
    time_to_page_p50_min: float | None
    time_to_page_p90_min: float | None
    events: int = 0
    true_pages: int = 0
    page_incidents: int = 0
    paged_incidents: int = 0
    glitch_incidents: int = 0
    glitches_paged: int = 0
    glitches_flagged: int = 0
    long_glitches: int = 0
    long_glitches_ok: int = 0
    recoveries: int = 0
    stall_incidents: int = 0
    stalls_found: int = 0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Target:
    """One goal: `metric` compared with a number, or with another Scores field named by `threshold`."""

    metric: str
    comparison: str
    threshold: float | str


TARGETS: tuple[Target, ...] = (
    Target("page_recall", ">=", 0.98),
    Target("page_precision", ">=", 0.98),
    Target("glitch_page_rate", "<=", 0.02),
    Target("glitch_recall", ">=", 0.95),
    Target("long_glitches_handled", ">=", 0.95),
    Target("false_recoveries", "==", 0),
    Target("duplicate_pages", "==", 0),
    Target("platform_found", "==", "platform_total"),
    Target("time_to_page_p50_min", "<=", 15.0),
)

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
}


@dataclass(frozen=True)
class _Event:
    kind: str
    scope: str
    key: str
    platform: str
    metric: str
    onset_ms: int | None
    decided_ms: int | None


@dataclass(frozen=True)
class _Incident:
    id: str
    key: str
    expect: str
    onset_ms: int
    end_ms: int | None
    recovers: bool

    def covers(self, onset_ms: int | None) -> bool:
        if onset_ms is None:
            return False
        last_ms = self.end_ms if self.end_ms is not None else self.onset_ms + OPEN_INCIDENT_MS
        return self.onset_ms - ONSET_SLACK_MS <= onset_ms <= last_ms


@dataclass
class _Matches:
    """Series events sorted by decided, grouped by incident id and kind; `orphans` matched nothing."""

    by_incident: dict[str, dict[str, list[_Event]]] = field(default_factory=lambda: defaultdict(dict))
    orphans: list[_Event] = field(default_factory=list)

    def of(self, incident: _Incident, kind: str) -> list[_Event]:
        return self.by_incident.get(incident.id, {}).get(kind, [])


def _parse_event(raw: dict) -> _Event:
    key = series_key(str(raw.get("platform")), str(raw.get("account")), str(raw.get("metric")), raw.get("post"))
    return _Event(
        kind=str(raw.get("kind")),
        scope=str(raw.get("scope", "series")),
        key=key,
        platform=str(raw.get("platform")),
        metric=str(raw.get("metric")),
        onset_ms=parse_time_ms(raw.get("onset")),
        decided_ms=parse_time_ms(raw.get("decided")),
    )


def _parse_incident(raw: dict) -> _Incident:
    key = series_key(raw["platform"], raw["account"], raw["metric"], raw.get("post"))
    return _Incident(
        id=str(raw["id"]),
        key=key,
        expect=raw["expect"],
        onset_ms=int(raw["onset_ms"]),
        end_ms=None if raw.get("end_ms") is None else int(raw["end_ms"]),
        recovers=bool(raw.get("recovers", False)),
    )


def _by_decided(event: _Event) -> int:
    return event.decided_ms if event.decided_ms is not None else -1


def _match_series(events: list[_Event], incidents: list[_Incident]) -> _Matches:
    """Assign each page, glitch and recovery to the latest-starting incident of its series covering its onset."""
    by_key: dict[str, list[_Incident]] = defaultdict(list)
    for incident in incidents:
        by_key[incident.key].append(incident)
    matches = _Matches()
    for event in sorted(events, key=_by_decided):
        covering = [i for i in by_key.get(event.key, ()) if i.covers(event.onset_ms)]
        if not covering:
            matches.orphans.append(event)
            continue
        incident = max(covering, key=lambda i: i.onset_ms)
        matches.by_incident[incident.id].setdefault(event.kind, []).append(event)
    return matches


def _ratio(part: int, whole: int, vacuous: float) -> float:
    return part / whole if whole else vacuous


def nearest_rank(values: list[float], pct: float) -> float | None:
    """The nearest-rank percentile: the smallest value with at least `pct` % of the values at or below it.

    >>> nearest_rank([4.0, 1.0, 3.0, 2.0], 50), nearest_rank([4.0, 1.0, 3.0, 2.0], 90), nearest_rank([], 50)
    (2.0, 4.0, None)
    """
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def _is_valid_recovery(recovery: _Event, incident: _Incident) -> bool:
    if not incident.recovers or recovery.decided_ms is None:
        return False
    return incident.end_ms is None or recovery.decided_ms >= incident.end_ms - ONSET_SLACK_MS


def _recovery_counts(matches: _Matches, incidents: list[_Incident]) -> tuple[int, int]:
    """(all recoveries, false recoveries): orphans, recoveries of non-recovering drops, or decided too early."""
    total = sum(1 for e in matches.orphans if e.kind == RECOVERY)
    false = total
    for incident in incidents:
        for recovery in matches.of(incident, RECOVERY):
            total += 1
            false += not _is_valid_recovery(recovery, incident)
    return total, false


def _duplicate_pages(matches: _Matches, series_events: list[_Event]) -> int:
    """Extra pages per incident, plus unmatched pages on a series whose earlier page is still unresolved."""
    duplicates = sum(max(0, len(kinds.get(PAGE, [])) - 1) for kinds in matches.by_incident.values())
    orphan_pages = {id(e) for e in matches.orphans if e.kind == PAGE}
    is_open: dict[str, bool] = defaultdict(bool)
    for event in sorted(series_events, key=_by_decided):
        if event.kind == RECOVERY:
            is_open[event.key] = False
        elif event.kind == PAGE:
            duplicates += id(event) in orphan_pages and is_open[event.key]
            is_open[event.key] = True
    return duplicates


def _is_long_glitch_handled(matches: _Matches, incident: _Incident) -> bool:
    pages = matches.of(incident, PAGE)
    if not pages:
        return bool(matches.of(incident, GLITCH))
    first_page_ms = _by_decided(pages[0])
    return any(
        _is_valid_recovery(r, incident) and _by_decided(r) >= first_page_ms for r in matches.of(incident, RECOVERY)
    )


def _page_scores(matches: _Matches, incidents: list[_Incident], pages: int) -> dict[str, Any]:
    """Recall, precision, time to page and long-glitch handling over the expect=page incidents."""
    page_incidents = [i for i in incidents if i.expect == "page"]
    paged = [i for i in page_incidents if matches.of(i, PAGE)]
    true_pages = sum(len(matches.of(i, PAGE)) for i in page_incidents)
    minutes = [(_by_decided(matches.of(i, PAGE)[0]) - i.onset_ms) / MINUTE_MS for i in paged]
    long_glitches = [i for i in page_incidents if i.recovers]
    handled = sum(_is_long_glitch_handled(matches, i) for i in long_glitches)
    return {
        "pages": pages,
        "page_recall": _ratio(len(paged), len(page_incidents), 1.0),
        "page_precision": _ratio(true_pages, pages, 1.0),
        "time_to_page_p50_min": nearest_rank(minutes, 50),
        "time_to_page_p90_min": nearest_rank(minutes, 90),
        "long_glitches_handled": _ratio(handled, len(long_glitches), 1.0),
        "true_pages": true_pages,
        "page_incidents": len(page_incidents),
        "paged_incidents": len(paged),
        "long_glitches": len(long_glitches),
        "long_glitches_ok": handled,
    }


def _glitch_scores(matches: _Matches, incidents: list[_Incident]) -> dict[str, Any]:
    glitches = [i for i in incidents if i.expect == "glitch"]
    paged = sum(bool(matches.of(i, PAGE)) for i in glitches)
    flagged = sum(bool(matches.of(i, GLITCH)) and not matches.of(i, PAGE) for i in glitches)
    return {
        "glitch_page_rate": _ratio(paged, len(glitches), 0.0),
        "glitch_recall": _ratio(flagged, len(glitches), 1.0),
        "glitch_incidents": len(glitches),
        "glitches_paged": paged,
        "glitches_flagged": flagged,
    }


def _stall_scores(series_events: list[_Event], incidents: list[_Incident]) -> dict[str, Any]:
    stalls = [i for i in incidents if i.expect == "stall"]
    stall_onsets: dict[str, list[int]] = defaultdict(list)
    for event in series_events:
        if event.kind == STALL and event.onset_ms is not None:
            stall_onsets[event.key].append(event.onset_ms)
    found = sum(
        any(i.onset_ms - STALL_BEFORE_MS <= onset <= i.onset_ms + STALL_AFTER_MS for onset in stall_onsets[i.key])
        for i in stalls
    )
    return {"stall_recall": _ratio(found, len(stalls), 1.0), "stall_incidents": len(stalls), "stalls_found": found}


def _platform_scores(platform_events: list[_Event], truth_incidents: list[dict]) -> dict[str, Any]:
    """Truth platform incidents found by a platform event near their onset, and found with the right kind."""
    found = classified = 0
    for incident in truth_incidents:
        onset_ms = int(incident["onset_ms"])
        kinds = {
            e.kind
            for e in platform_events
            if e.kind in (PAGE, GLITCH)
            and (e.platform, e.metric) == (incident["platform"], incident["metric"])
            and e.onset_ms is not None
            and onset_ms - ONSET_SLACK_MS <= e.onset_ms <= onset_ms + PLATFORM_AFTER_MS
        }
        expected = PAGE if incident["expect"] == "page" else GLITCH
        found += bool(kinds)
        classified += kinds == {expected}
    return {"platform_found": found, "platform_total": len(truth_incidents), "platform_classified": classified}


def score(events: Iterable[dict], truth: dict, detector: str = "dipwatch") -> Scores:
    """Score anomaly events (the contract's dicts) against a truth document, by the module's matching rules."""
    parsed = [_parse_event(raw) for raw in events]
    series_events = [e for e in parsed if e.scope == "series"]
    incidents = [_parse_incident(raw) for raw in truth.get("incidents", [])]
    matchable = [e for e in series_events if e.kind in (PAGE, GLITCH, RECOVERY)]
    matches = _match_series(matchable, incidents)
    recoveries, false_recoveries = _recovery_counts(matches, incidents)
    return Scores(
        detector=detector,
        events=len(parsed),
        recoveries=recoveries,
        false_recoveries=false_recoveries,
        duplicate_pages=_duplicate_pages(matches, matchable),
        **_page_scores(matches, incidents, pages=sum(e.kind == PAGE for e in series_events)),
        **_glitch_scores(matches, incidents),
        **_stall_scores(series_events, incidents),
        **_platform_scores([e for e in parsed if e.scope == "platform"], truth.get("platform_incidents", [])),
    )


def is_met(scores: Scores, target: Target) -> bool:
    value = getattr(scores, target.metric)
    threshold = getattr(scores, target.threshold) if isinstance(target.threshold, str) else target.threshold
    return value is not None and _COMPARE[target.comparison](value, threshold)


def targets_met(scores: Scores) -> dict[str, bool]:
    """Each target of TARGETS by metric name: met or not (a missing time to page is not met)."""
    return {target.metric: is_met(scores, target) for target in TARGETS}


# --- where it fails: the same scores broken down by cadence, incident kind and duration -----------

#: Duration classes of incidents that end (first correct poll minus onset), in minutes.
DURATION_CLASSES: tuple[tuple[str, float], ...] = (
    ("< 5 min", 5), ("5-15 min", 15), ("15-60 min", 60), ("1-6 h", 360), ("> 6 h", math.inf),
)


@dataclass(frozen=True)
class GroupScores:
    """One group of incidents (a cadence, a kind, a duration class) and how a detector did on it.

    `pages` and `page_precision` are only known per cadence (a page belongs to a series, and each
    series has one cadence); for kinds and durations they are None.
    """

    group: str
    incidents: int
    page_incidents: int
    paged_incidents: int
    page_recall: float
    glitch_incidents: int
    glitches_paged: int
    glitch_page_rate: float
    glitch_recall: float
    long_glitches: int
    long_glitches_handled: float
    false_recoveries: int
    time_to_page_p50_min: float | None
    time_to_page_p90_min: float | None
    pages: int | None = None
    page_precision: float | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _duration_class(row: dict) -> str:
    if row.get("end_ms") is None:
        return "no end"
    minutes = (int(row["end_ms"]) - int(row["onset_ms"])) / MINUTE_MS
    return next(name for name, limit in DURATION_CLASSES if minutes < limit)


def _group_scores(
    name: str, rows: list[dict], incidents: dict[str, _Incident], matches: _Matches,
    orphan_recoveries: int, pages: int | None, false_pages: int | None,
) -> GroupScores:  # fmt: skip
    chosen = [incidents[str(row["id"])] for row in rows]
    page_incidents = [i for i in chosen if i.expect == "page"]
    paged = [i for i in page_incidents if matches.of(i, PAGE)]
    minutes = [(_by_decided(matches.of(i, PAGE)[0]) - i.onset_ms) / MINUTE_MS for i in paged]
    glitches = [i for i in chosen if i.expect == "glitch"]
    glitches_paged = sum(bool(matches.of(i, PAGE)) for i in glitches)
    flagged = sum(bool(matches.of(i, GLITCH)) and not matches.of(i, PAGE) for i in glitches)
    long_glitches = [i for i in page_incidents if i.recovers]
    handled = sum(_is_long_glitch_handled(matches, i) for i in long_glitches)
    false_recoveries = orphan_recoveries + sum(
        not _is_valid_recovery(r, i) for i in chosen for r in matches.of(i, RECOVERY)
    )
    precision = None
    if pages is not None and false_pages is not None:
        precision = _ratio(pages - false_pages, pages, 1.0)
    return GroupScores(
        group=name, incidents=len(chosen), page_incidents=len(page_incidents), paged_incidents=len(paged),
        page_recall=_ratio(len(paged), len(page_incidents), 1.0), glitch_incidents=len(glitches),
        glitches_paged=glitches_paged, glitch_page_rate=_ratio(glitches_paged, len(glitches), 0.0),
        glitch_recall=_ratio(flagged, len(glitches), 1.0), long_glitches=len(long_glitches),
        long_glitches_handled=_ratio(handled, len(long_glitches), 1.0), false_recoveries=false_recoveries,
        time_to_page_p50_min=nearest_rank(minutes, 50), time_to_page_p90_min=nearest_rank(minutes, 90),
        pages=pages, page_precision=precision,
    )  # fmt: skip


def breakdown(events: Iterable[dict], truth: dict) -> dict[str, list[GroupScores]]:
    """Series-level scores per poll cadence (`cadence`, in seconds), incident cause (`kind`) and
    duration class (`duration`), matched by the same rules as `score()`."""
    parsed = [_parse_event(raw) for raw in events]
    matchable = [e for e in parsed if e.scope == "series" and e.kind in (PAGE, GLITCH, RECOVERY)]
    rows = list(truth.get("incidents", []))
    incidents = {str(row["id"]): _parse_incident(row) for row in rows}
    matches = _match_series(matchable, list(incidents.values()))
    poll_ms: dict[str, int] = truth.get("series_poll_ms", {})
    true_page_ids = {id(e) for i in incidents.values() if i.expect == "page" for e in matches.of(i, PAGE)}
    out: dict[str, list[GroupScores]] = {}
    cadences = sorted(set(poll_ms.values()) | {int(r.get("poll_ms", 0)) for r in rows if "poll_ms" in r})
    by_cadence = []
    for cadence in cadences:
        chosen = [r for r in rows if int(r.get("poll_ms", poll_ms.get(incidents[str(r["id"])].key, 0))) == cadence]
        on_it = [e for e in matchable if poll_ms.get(e.key) == cadence]
        pages = [e for e in on_it if e.kind == PAGE]
        orphans = sum(1 for e in matches.orphans if e.kind == RECOVERY and poll_ms.get(e.key) == cadence)
        false_pages = sum(id(e) not in true_page_ids for e in pages)
        by_cadence.append(
            _group_scores(f"{cadence // 1000} s", chosen, incidents, matches, orphans, len(pages), false_pages)
        )
    out["cadence"] = by_cadence
    causes = sorted({str(r["cause"]) for r in rows})
    out["kind"] = [
        _group_scores(c, [r for r in rows if r["cause"] == c], incidents, matches, 0, None, None) for c in causes
    ]
    classes = [name for name, _ in DURATION_CLASSES] + ["no end"]
    out["duration"] = [
        _group_scores(d, chosen, incidents, matches, 0, None, None)
        for d in classes
        if (chosen := [r for r in rows if _duration_class(r) == d])
    ]
    return out
