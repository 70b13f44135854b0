"""One human sentence per anomaly event, for alerts, annotations and the terminal."""

from __future__ import annotations

from datetime import datetime, timezone

from streams.engine.config import MINUTE_MS
from streams.engine.types import Cause, Kind

_CAUSE_HINTS = {
    Cause.GLITCH: "a display glitch",
    Cause.DELAY: "a stale value shown again (replica or processing delay)",
    Cause.PURGE: "likely a purge of fake or bot accounts",
    Cause.REMOVAL: "content removed, made private, or a display bug",
    Cause.ATTRITION: "a slow loss (deactivations)",
    Cause.REACH: "growth collapsed (reach or algorithm change)",
    Cause.OUTAGE: "the loss came back (outage or bug fixed)",
    Cause.UNKNOWN: "cause unknown",
}


def clock(ms: int) -> str:
    """Day and time of an event time. The date is always there: the engine knows no "today", and an
    alert read tomorrow or a replay of last month must not look like now.

    >>> clock(1795694400000)
    '26 Nov 12:00 UTC'
    """
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%d %b %H:%M UTC").lstrip("0")


def duration(ms: int) -> str:
    """A span as people say it.

    >>> duration(20_000), duration(14 * MINUTE_MS), duration(165 * MINUTE_MS), duration(49 * 60 * MINUTE_MS)
    ('under a minute', '14 min', '2 h 45 min', '49 h')
    """
    minutes = round(ms / MINUTE_MS)
    if minutes < 1:
        return "under a minute"
    if minutes < 120:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest} min" if rest and hours < 24 else f"{round(minutes / 60)} h"


def _count(value: float) -> str:
    return f"{value:,.0f}"


def describe(
    kind: Kind, who: str, baseline: float, low: float, onset_ms: int, decided_ms: int, cause: Cause,
    quiet: bool = False,
) -> str:
    """The sentence for one event about `who` (a series key or `N of M platform series`).

    >>> describe(Kind.SUSTAINED_DROP, "x/acme/followers", 1000, 950, 0, 900_000, Cause.PURGE)
    'x/acme/followers fell 5.0% (1,000 → 950) at 1 Jan 00:00 UTC and stayed down 15 min: likely a purge of fake or bot accounts.'
    >>> describe(Kind.SUSTAINED_DROP, "x/acme/likes/p1", 480, 0, 0, 900_000, Cause.REMOVAL)
    'x/acme/likes/p1 fell to zero (480 → 0) at 1 Jan 00:00 UTC and stayed down 15 min: content removed, made private, or a display bug.'
    >>> describe(Kind.GLITCH, "x/acme/likes/p1", 480, 200, 0, 30_000, Cause.GLITCH)
    'x/acme/likes/p1 dipped 58.3% (480 → 200) at 1 Jan 00:00 UTC and came back in under a minute: a display glitch.'
    >>> describe(Kind.SUSTAINED_DROP, "x/acme/likes/p1", 480, 0, 0, 1_020_000, Cause.REMOVAL, quiet=True)
    'x/acme/likes/p1 fell to zero (480 → 0) at 1 Jan 00:00 UTC, then went quiet: no update for 17 min, so the drop is not confirmed; content removed, made private, or a display bug.'
    """
    pct = 100.0 * (baseline - low) / baseline if baseline > 0 else 0.0
    took = duration(decided_ms - onset_ms)
    span = f"{_count(baseline)} → {_count(low)}"
    hint = _CAUSE_HINTS[cause]
    fell = "fell to zero" if low == 0 else f"fell {pct:.1f}%"
    if kind is Kind.GLITCH:
        back = "in under a minute" if took == "under a minute" else f"{took} later"
        dipped = "dipped to zero" if low == 0 else f"dipped {pct:.1f}%"
        return f"{who} {dipped} ({span}) at {clock(onset_ms)} and came back {back}: {hint}."
    if kind is Kind.SUSTAINED_DROP and quiet:
        return (f"{who} {fell} ({span}) at {clock(onset_ms)}, then went quiet: no update for {took}, "
                f"so the drop is not confirmed; {hint}.")  # fmt: skip
    if kind is Kind.SUSTAINED_DROP:
        return f"{who} {fell} ({span}) at {clock(onset_ms)} and stayed down {took}: {hint}."
    if kind is Kind.RECOVERY:
        return (f"{who} recovered at {clock(decided_ms)}, {took} after it {fell} "
                f"at {clock(onset_ms)}: {hint}.")  # fmt: skip
    return f"{who} stopped growing around {clock(onset_ms)}: expected {_count(baseline)}, shows {_count(low)}; {hint}."
