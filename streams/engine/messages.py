"""One human sentence per anomaly event, for alerts, annotations and the terminal."""

from __future__ import annotations

from datetime import datetime, timezone

from streams.engine.config import MINUTE_MS
from streams.engine.types import Cause, Kind

_CAUSE_HINTS = {
    Cause.GLITCH: "a display glitch",
    Cause.DELAY: "a stale value shown again (replica or processing delay)",
    Cause.PURGE: "likely a purge of fake or bot accounts",
    Cause.REMOVAL: "fell to zero: content removed, made private, or a display bug",
    Cause.ATTRITION: "a slow loss (deactivations)",
    Cause.REACH: "growth collapsed (reach or algorithm change)",
    Cause.OUTAGE: "the loss came back (outage or bug fixed)",
    Cause.UNKNOWN: "cause unknown",
}


def clock(ms: int) -> str:
    """HH:MM UTC of an event time.

    >>> clock(1795694400000)
    '12:00 UTC'
    """
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%H:%M UTC")


def _count(value: float) -> str:
    return f"{value:,.0f}"


def describe(
    kind: Kind, who: str, baseline: float, low: float, onset_ms: int, decided_ms: int, cause: Cause,
    quiet: bool = False,
) -> str:
    """The sentence for one event about `who` (a series key or `N of M platform series`).

    >>> describe(Kind.SUSTAINED_DROP, "x/acme/followers", 1000, 950, 0, 900_000, Cause.PURGE)
    'x/acme/followers fell 5.0% (1,000 → 950) at 00:00 UTC and stayed down 15 min: likely a purge of fake or bot accounts.'
    >>> describe(Kind.SUSTAINED_DROP, "x/a/likes/p1", 900, 0, 0, 1_020_000, Cause.REMOVAL, quiet=True)[:70]
    'x/a/likes/p1 fell 100.0% (900 → 0) at 00:00 UTC, then went quiet: no u'
    """
    pct = 100.0 * (baseline - low) / baseline if baseline > 0 else 0.0
    minutes = max(0, (decided_ms - onset_ms) // MINUTE_MS)
    span = f"{_count(baseline)} → {_count(low)}"
    hint = _CAUSE_HINTS[cause]
    if kind is Kind.GLITCH:
        return f"{who} dipped {pct:.1f}% ({span}) at {clock(onset_ms)} and came back within {minutes} min: {hint}."
    if kind is Kind.SUSTAINED_DROP and quiet:
        return (f"{who} fell {pct:.1f}% ({span}) at {clock(onset_ms)}, then went quiet: no update for "
                f"{minutes} min, so the drop is not confirmed; {hint}.")
    if kind is Kind.SUSTAINED_DROP:
        return f"{who} fell {pct:.1f}% ({span}) at {clock(onset_ms)} and stayed down {minutes} min: {hint}."
    if kind is Kind.RECOVERY:
        return f"{who} recovered at {clock(decided_ms)} from the {pct:.1f}% drop of {clock(onset_ms)} ({minutes} min): {hint}."
    return f"{who} stopped growing around {clock(onset_ms)}: expected {_count(baseline)}, shows {_count(low)}; {hint}."
