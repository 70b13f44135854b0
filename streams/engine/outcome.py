"""Outcome: what one step of a series decided, before the Detector turns it into events."""

from __future__ import annotations

from streams.engine.types import Cause


class Outcome:
    """A decision with the numbers frozen at the moment it was made.

    `kind` is one of opened (a dip began; no event, but platforms count it), glitch, paged,
    recovered and stall. `then` chains a second outcome of the same update.
    """

    __slots__ = ("kind", "at_ms", "onset_ms", "baseline", "low", "cause", "quiet", "then")

    def __init__(
        self, kind: str, at_ms: int, onset_ms: int, baseline: float, low: float, cause: Cause
    ) -> None:
        self.kind = kind
        self.at_ms = at_ms
        self.onset_ms = onset_ms
        self.baseline = baseline
        self.low = low
        self.cause = cause
        self.quiet = False  # a page decided on the series' silence after the hold, not on an observation
        self.then: Outcome | None = None

    def __repr__(self) -> str:
        return f"Outcome({self.kind}, at={self.at_ms}, onset={self.onset_ms}, cause={self.cause.value})"

