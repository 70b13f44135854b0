"""The promises, over poll interval x glitch length x growth shape x time of day (hypothesis).

- a glitch that ends before the hold is never paged, whatever the cadence;
- a glitch longer than the hold is paged once and recovers once;
- a sustained drop is paged once and never recovers by growth (steady, daily, fast regrowth, bursts);
- the same stream in any delivery order (within the lateness allowance) gives the same events.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from streams.engine import AnomalyEvent, DetectorConfig, Kind, Update
from streams.engine.cadence import side_of_hold
from streams.engine.config import HOUR_MS, MINUTE_MS
from tests.engine.scenarios import T0, run
from tests.engine.test_properties import late_and_duplicated

CONFIG = DetectorConfig()
DAY_MS = 24 * HOUR_MS
#: Growth per day of each shape; "daily" and "fast" follow a strong daily rhythm.
GROWTH = {"flat": (0.0, 0.0), "steady": (0.02, 0.0), "daily": (0.03, 0.9), "fast": (0.10, 0.9)}


@dataclass(frozen=True)
class Series:
    poll_ms: int
    jitter: float
    base: float
    shape: str
    start_ms: int
    seed: int

    def times(self, count: int) -> list[int]:
        rng = random.Random(self.seed)
        slack = int(self.poll_ms * self.jitter)
        return [self.start_ms + i * self.poll_ms + rng.randint(-slack, slack) // 1000 * 1000 for i in range(count)]

    def value(self, t: int, extra_rate: float = 0.0, since_ms: int = 0) -> float:
        """The count at t: growth by its shape, warped by the daily rhythm (busiest at 20:00 UTC)."""
        per_day, amplitude = GROWTH[self.shape]
        phase = 2 * math.pi / DAY_MS
        clock = t + amplitude / phase * math.sin(phase * (t - 20 * HOUR_MS))
        grown = per_day / DAY_MS * clock + extra_rate * max(0, t - since_ms)
        return self.base * math.exp(grown - per_day / DAY_MS * self.start_ms)


@st.composite
def series(draw: st.DrawFn) -> Series:
    poll_s = draw(st.one_of(st.sampled_from([30, 60, 120, 300, 600, 900]), st.integers(30, 900)))
    return Series(
        poll_ms=poll_s * 1000,
        jitter=draw(st.sampled_from([0.0, 0.1, 1 / 6])),
        base=draw(st.sampled_from([2_347.0, 61_283.0, 3_141_593.0])),  # exact counts, not rounded displays
        shape=draw(st.sampled_from(sorted(GROWTH))),
        start_ms=T0 + draw(st.integers(0, 23)) * HOUR_MS,
        seed=draw(st.integers(0, 2**16)),
    )


def warm_polls(s: Series) -> int:
    """Enough history to learn the cadence and the noise: at least 40 polls and 3 hours."""
    return max(40, 3 * HOUR_MS // s.poll_ms)


def hold_side(s: Series, onset_ms: int, last_wrong_ms: int) -> str | None:
    """"inside" / "outside" the hold on this cadence, for any learned cadence within 5 %, else None."""
    return side_of_hold(onset_ms, last_wrong_ms, s.poll_ms, 0.05, CONFIG)


def as_updates(times: list[int], values: list[float]) -> list[Update]:
    return [Update("x", "acme", "followers", None, float(round(v)), t) for t, v in zip(times, values)]


def glitch_stream(s: Series, wrong_polls: int, size: float, after_ms: int) -> tuple[list[Update], str | None]:
    warm = warm_polls(s)
    count = warm + wrong_polls + after_ms // s.poll_ms + 2
    times = s.times(count)
    values = [s.value(t) for t in times]
    for i in range(warm, warm + wrong_polls):
        values[i] *= 1.0 - size
    return as_updates(times, values), hold_side(s, times[warm], times[warm + wrong_polls - 1])


def of_kind(events: list[AnomalyEvent], kind: Kind) -> list[AnomalyEvent]:
    return [e for e in events if e.kind is kind]


@settings(max_examples=80, deadline=None)
@given(series(), st.integers(1, 40), st.sampled_from([0.05, 0.3, 1.0]))
def test_a_glitch_that_ends_before_the_hold_is_never_paged(s: Series, wrong: int, size: float) -> None:
    items, side = glitch_stream(s, wrong, size, after_ms=2 * HOUR_MS)
    assume(side == "inside")
    events = run(items, CONFIG)
    assert of_kind(events, Kind.SUSTAINED_DROP) == []
    assert len(of_kind(events, Kind.GLITCH)) == 1


@settings(max_examples=80, deadline=None)
@given(series(), st.integers(1, 4 * HOUR_MS // MINUTE_MS), st.sampled_from([0.05, 0.3, 1.0]))
def test_a_glitch_longer_than_the_hold_is_paged_once_and_recovers_once(s: Series, minutes: int, size: float) -> None:
    wrong = max(1, minutes * MINUTE_MS // s.poll_ms)
    items, side = glitch_stream(s, wrong, size, after_ms=2 * HOUR_MS)
    assume(side == "outside")
    events = run(items, CONFIG)
    pages, recoveries = of_kind(events, Kind.SUSTAINED_DROP), of_kind(events, Kind.RECOVERY)
    assert len(pages) == 1 and len(recoveries) == 1
    back_ms = items[warm_polls(s) + wrong].ts_ms  # the first correct poll
    assert pages[0].decided_ms < back_ms <= recoveries[0].decided_ms
    assert of_kind(events, Kind.GLITCH) == []


@st.composite
def regrowth(draw: st.DrawFn) -> tuple[float, float, int]:
    """After a purge: organic regrowth (the loss regrown in 6-30 h, or none) and an optional burst
    (a post going viral: 5-200 % over at least 30 minutes and three polls)."""
    regrow_h = draw(st.sampled_from([0.0, 6.0, 12.0, 30.0]))
    burst = draw(st.sampled_from([0.0, 0.05, 0.2, 1.0, 2.0]))
    burst_min = draw(st.integers(30, 120))
    return regrow_h, burst, burst_min


@settings(max_examples=60, deadline=None)
@given(series(), st.floats(0.03, 0.3), regrowth())
def test_a_sustained_drop_is_paged_once_and_never_recovers_by_growth(
    s: Series, size: float, after: tuple[float, float, int]
) -> None:
    regrow_h, burst, burst_min = after
    warm = warm_polls(s)
    span_ms = 36 * HOUR_MS
    times = s.times(warm + span_ms // s.poll_ms)
    purge_ms = times[warm]
    extra_rate = -math.log1p(-size) / (regrow_h * HOUR_MS) if regrow_h else 0.0
    burst_ms, ramp_ms = purge_ms + 6 * HOUR_MS, max(burst_min * MINUTE_MS, 3 * s.poll_ms)
    values = []
    for t in times:
        value = s.value(t)
        if t >= purge_ms:
            value = s.value(t, extra_rate, purge_ms) * (1.0 - size)
            value *= 1.0 + burst * min(1.0, max(0.0, (t - burst_ms) / ramp_ms))
        values.append(value)
    events = run(as_updates(times, values), CONFIG)
    assert len(of_kind(events, Kind.SUSTAINED_DROP)) == 1
    assert of_kind(events, Kind.RECOVERY) == []


@settings(max_examples=60, deadline=None)
@given(series(), st.integers(1, 60), st.sampled_from([0.05, 1.0]), st.integers(0, 2**16), st.integers(1, 200))
def test_the_same_stream_in_any_delivery_order_gives_the_same_events(
    s: Series, wrong: int, size: float, seed: int, batch: int
) -> None:
    items, _ = glitch_stream(s, wrong, size, after_ms=HOUR_MS)
    expected = run(items, CONFIG)
    assert run(late_and_duplicated(items, seed), CONFIG, batch) == expected
