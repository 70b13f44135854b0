"""Each series' poll cadence, learned online, and the hold window sized from it.

A poller may read a series every 30 s or every 15 min, with jitter and missed polls. The hold is
counted in polls of the series' own cadence: the poll nearest the configured hold decides, and the
hold ends midway between the last poll inside it and that deciding poll, so jitter of up to half an
interval never moves the decision to another poll. A fast series is not slowed (its deciding poll
comes at about the configured hold), and a slow one always gets one observation after the hold.
"""

from __future__ import annotations

from streams.engine.config import DetectorConfig

#: Step of the running median of gaps, in log space: 5 % while a series is young (the first gap
#: may be a missed poll), then 2 %, so the learned cadence stays within a few % of the true one.
GAP_STEP_YOUNG, GAP_STEP = 1.05, 1.02
#: Updates a series needs before the small step is used.
GAP_YOUNG_UPDATES = 32
#: Weight of the newest gap in the running spread: about the last 16 gaps.
SPREAD_ALPHA = 1 / 16
#: Rounding bias of the poll count: it keeps the usual round cadences (30 s to 15 min) clear of a
#: change of count (by at least 7 % of the cadence from 5 min up), so a small error in the learned
#: cadence does not move the deciding poll.
_COUNT_BIAS = 0.1


def hold_polls(poll_ms: float, cfg: DetectorConfig) -> int:
    """How many polls after the onset the deciding poll comes, on a series polled every `poll_ms`.

    The hold counts from the last normal observation, at most `hold_backdate_max_ms` before the
    onset, so on a fast series the deciding poll comes a little before the full hold.

    >>> [hold_polls(s * 1000, DetectorConfig()) for s in (30, 60, 120, 300, 600, 900)]
    [29, 14, 7, 3, 1, 1]
    """
    backdate = min(poll_ms, cfg.hold_backdate_max_ms)
    return max(1, int((cfg.hold_ms - backdate) / poll_ms + 0.5 + _COUNT_BIAS))


def hold_end_ms(onset_ms: int, poll_ms: float, cfg: DetectorConfig) -> int:
    """Event time at which the hold of a dip that began at `onset_ms` ends.

    >>> hold_end_ms(0, 300_000, DetectorConfig()) // 60_000  # 5-min polls: the poll at +15 min decides
    12
    """
    return onset_ms + int((hold_polls(poll_ms, cfg) - 0.5) * poll_ms)


def side_of_hold(onset_ms: int, last_wrong_ms: int, poll_ms: float, tolerance: float,
                 cfg: DetectorConfig) -> str | None:  # fmt: skip
    """"inside" when a glitch's last wrong poll lies clearly inside the hold, "outside" when clearly
    after it, None when too close to tell, for any learned cadence within ±`tolerance` of `poll_ms`.
    The hold end is a sawtooth in the cadence (the count of polls steps), so the band is sampled;
    "clearly" is a sixth of an interval. The simulator's glitch labels and the tests use it.

    >>> [side_of_hold(0, m * 60_000, 300_000, 0.05, DetectorConfig()) for m in (10, 12, 15)]
    ['inside', None, 'outside']
    """
    ends = [onset_ms + (hold_polls(c, cfg) - 0.5) * c
            for c in (poll_ms * (1 + tolerance * (i / 20 - 1)) for i in range(41))]  # fmt: skip
    margin = poll_ms / 6
    if last_wrong_ms < min(ends) - margin:
        return "inside"
    if last_wrong_ms > max(ends) + margin:
        return "outside"
    return None


def quiet_after_ms(poll_ms: float, spread_ms: float) -> int:
    """How long after the hold a series may stay silent before its silence is taken as evidence:
    the deciding poll is due half an interval after the hold; allow a missed poll and its jitter.

    >>> quiet_after_ms(60_000, 0.0) // 1000
    120
    """
    return int(2 * poll_ms + 4 * spread_ms)


def learn_gap(gap_ms: float, spread_ms: float, gap: int, young: int = 0) -> tuple[float, float]:
    """The running median and spread of a series' gaps between updates, after one more gap.

    A running median moves by a fixed ratio towards each new gap, so a missed poll (a gap of 2-5
    intervals) barely moves it; the first gap seeds it. `young`, the number of gaps seen while a
    series is young (0 after): the mean of the gaps so far, leaving out missed polls, or a larger step.

    >>> median, spread = 0.0, 0.0
    >>> for gap in [300_000] + [60_000] * 60 + [300_000] + [60_000] * 20:
    ...     median, spread = learn_gap(median, spread, gap, young=3)
    >>> round(median), round(spread)
    (60001, 6051)
    """
    if gap_ms <= 0.0:
        return float(gap), 0.0
    if young and 0.6 * gap_ms < gap < 1.6 * gap_ms:
        # Few gaps seen: their plain mean (missed polls left out) is far closer than small steps.
        median = gap_ms + (gap - gap_ms) / young
        deviation = gap - median
        spread_ms += ((deviation if deviation >= 0.0 else -deviation) - spread_ms) * SPREAD_ALPHA
        return median, spread_ms
    up = GAP_STEP_YOUNG if young else GAP_STEP
    if gap > gap_ms:
        median = gap_ms * up
        if median > gap:
            median = float(gap)
    elif gap < gap_ms:
        median = gap_ms / up
        if median < gap:
            median = float(gap)
    else:
        median = gap_ms
    deviation = gap - median
    spread_ms += ((deviation if deviation >= 0.0 else -deviation) - spread_ms) * SPREAD_ALPHA
    return median, spread_ms
