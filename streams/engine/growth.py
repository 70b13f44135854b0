"""Growth compared window against window: a collapse of growth without a loss is a growth stall."""

from __future__ import annotations

import math

from streams.engine.config import MINUTE_MS
from streams.engine.outcome import Outcome
from streams.engine.types import Cause

_NAN = math.nan
_MIN_OPEN_SPAN_MS = 30 * MINUTE_MS


class GrowthWindows:
    """Gain of a series over the last two closed windows of event time.

    Windows start at the first normal update and close at the first update past their length;
    while a dip is open nothing is observed, so a glitch never pollutes the growth it hid.

    >>> g = GrowthWindows()
    >>> [g.observe(t * 60_000, 1000.0 + 10 * t, 3_600_000) for t in (0, 60, 120)]
    [False, True, True]
    >>> round(g.rate_ref(7_200_000, 2200.0) * 3_600_000)
    600
    """

    __slots__ = ("start_ts", "start_value", "last_start_ts", "gain_last", "span_last",
                 "gain_before", "span_before")  # fmt: skip

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget: a level shift (a page, a recovery) makes old growth meaningless."""
        self.start_ts = -1
        self.start_value = 0.0
        self.last_start_ts = -1
        self.gain_last = _NAN
        self.span_last = 0
        self.gain_before = _NAN
        self.span_before = 0

    def observe(self, ts: int, value: float, window_ms: int) -> bool:
        """Feed a normal update; True when it closed a window."""
        if self.start_ts < 0:
            self.start_ts, self.start_value = ts, value
            return False
        span = ts - self.start_ts
        if span < window_ms:
            return False
        self.gain_before, self.span_before = self.gain_last, self.span_last
        self.gain_last, self.span_last = value - self.start_value, span
        self.last_start_ts = self.start_ts
        self.start_ts, self.start_value = ts, value
        return True

    def rate_ref(self, ts: int, value: float) -> float:
        """Counts per ms over the last closed window, else over the open one if it is long
        enough to mean something (0 when unknown); `ts`, `value` is the latest normal update."""
        if self.span_last > 0 and not math.isnan(self.gain_last):
            return self.gain_last / self.span_last
        span = ts - self.start_ts
        if self.start_ts >= 0 and span >= _MIN_OPEN_SPAN_MS:
            return (value - self.start_value) / span
        return 0.0


def stall_event(
    growth: GrowthWindows, ts: int, value: float, floor: float, ratio: float
) -> Outcome | None:
    """A growth stall when the window just closed grew by less than `ratio` of the one before,
    and the growth that went missing is at least a drop's worth (`floor`)."""
    if not (growth.span_before > 0 and growth.gain_before >= floor):
        return None
    rate_before = growth.gain_before / growth.span_before
    expected = rate_before * growth.span_last
    if growth.gain_last >= ratio * expected or expected - growth.gain_last < floor:
        return None
    baseline = value - growth.gain_last + expected
    onset = growth.last_start_ts
    # Take the new pace as the reference, so one collapse is reported once.
    growth.gain_before, growth.span_before = growth.gain_last, growth.span_last
    return Outcome("stall", ts, onset, baseline, value, Cause.REACH)
