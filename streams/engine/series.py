"""Per-series state and step(): the glitch / sustained / recovery state machine on event time.

One series is judged against its own peak: the highest count shown while nothing was wrong.
A fall below the peak by at least the drop threshold opens a *dip*. The hold is sized from the
series' own cadence (`cadence.py`); a dip that regains `recover_fraction` of its loss by the first
observation after the hold is a glitch. It becomes a page (`sustained_drop`) only on evidence: an
observation after the hold that still shows the drop, or silence beyond the series' cadence after
the hold (then the page says the data went quiet). A page is resolved (`recovery`) only by a
restore: a step, within two polls, back to near where the count would be without the drop (the
baseline grown as the level it fell to has grown since: the daily rhythm and any burst are in
it), held on the next update (a burst keeps climbing), never by growth. A slow bleed never crosses the threshold in one step, but it does cross
it against the peak: that is the cumulative (attrition) test, dated from where the decline began.

The state is a slotted object mutated in place by `step()`: building a new frozen state per update
would cost more than the whole detection, and the Detector owns each state exclusively.
"""

from __future__ import annotations

from itertools import islice

from streams.engine.cadence import GAP_STEP, GAP_YOUNG_UPDATES, SPREAD_ALPHA, hold_end_ms, learn_gap, quiet_after_ms
from streams.engine.config import DetectorConfig
from streams.engine.growth import GrowthWindows, stall_event
from streams.engine.outcome import Outcome
from streams.engine.rounding import display_step
from streams.engine.types import Cause

OK, DIPPING, PAGED = 0, 1, 2

_RING = 16  # recent distinct values (a quarter hour of one-minute polls) kept to recognise a stale replica showing one of them again
_NOISE_ALPHA = 1 / 32  # about the last half hour of one-minute polls
_DECLINE_START = 0.25  # a slow loss is dated from when it reached a quarter of a drop ...
_ATTRITION_START = 0.001  # ... or 0.1 % of the count, if less: earlier is noise
#: Slow attrition: a net loss of at least this share of the count (and the drop's absolute floor,
#: noise and rounding bounds), built up over at least `_ATTRITION_MIN_MS`, is a drop too.
_ATTRITION_MIN_SHARE = 0.003
_ATTRITION_MIN_MS = 60 * 60_000
_GAP_UP, _GAP_DOWN = GAP_STEP, 1 / GAP_STEP  # cadence.learn_gap, inlined on the hot path
_LANDING_ABOVE = 0.5  # a restore may land this share of the loss above the expected level (growth meanwhile)
_ZERO_PACE_ALLOWANCE = 3.0  # behind a count shown as zero, growth may have run this many times the old pace
_RESTORE_SETTLE = 0.25  # the update after a restore step stays within this share of the loss of it
_STEADY_BEFORE = 0.25  # before a restore step the count rose by less than this share of the loss a poll
_DEFAULT_GAP_MS = 60_000.0  # cadence assumed for a series whose gaps are not known yet


class _DipFields:
    """The numbers of an open dip or page, allocated when a series first dips: most series never
    do, and keeping these in every series cost 96 bytes each (bench/state_bytes.py)."""

    __slots__ = ("onset_ms", "hold_until_ms", "baseline", "low", "loss", "is_slow",
                 "dip_level", "dip_rate", "level", "before_last", "third_last", "restored")  # fmt: skip

    def __init__(self) -> None:
        for name, default in DIP_DEFAULTS.items():
            setattr(self, name, default)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _DipFields):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)


DIP_DEFAULTS: dict[str, object] = {
    "onset_ms": 0, "hold_until_ms": 0,
    "baseline": 0.0, "low": 0.0,
    "loss": 0.0,  # the loss that opened the dip: what must come back
    "is_slow": False,
    "dip_level": 0.0,  # the count that opened the dip
    "dip_rate": 0.0,  # growth per ms before the dip (for a count shown as zero meanwhile)
    "level": 0.0,  # highest count since the page, up to two updates ago: where it sits now
    "before_last": 0.0,  # the value before the last one (a restore may take two polls)
    "third_last": 0.0,  # and the one before that: was the count steady before the step?
    "restored": -1.0,  # the count a restore step reached, until the next update confirms it
}  # fmt: skip


def _dip_field(name: str, default: object) -> property:
    """`state.<name>` reads the dip's field (its default before any dip) and writes it, so the
    decision code reads as if the field were the state's own."""

    def read(state: SeriesState) -> object:
        dip = state.dip
        return default if dip is None else getattr(dip, name)

    def write(state: SeriesState, value: object) -> None:
        dip = state.dip
        if dip is None:
            dip = state.dip = _DipFields()
        setattr(dip, name, value)

    return property(read, write)


_NO_RING: tuple[float, ...] = ()  # shared by every series that has not remembered a value yet
NO_PENDING: tuple[float, ...] = ()  # shared by every series with no update waiting


class SeriesState:
    """Everything remembered about one series; fixed size, so millions fit in a worker.

    Kept small on purpose (bench/state_bytes.py weighs each part): the names are the key and
    two interned strings (account and post are read back from the key), the fields of a dip live
    in `dip` from the first dip on, and the ring of recent values grows as values come.
    """

    __slots__ = (
        "key", "platform", "metric", "account_end",
        "n", "last_ts", "prev_ts", "last_value", "peak", "peak_before_jump", "step_mean", "noise",
        "decline_ts", "phase", "dip", "gap_ms", "gap_spread",
        "ring", "ring_i", "growth", "epoch", "pending", "tail_ts", "due_ms",
    )  # fmt: skip

    def __init__(self, key: str, platform: str, account: str, metric: str, post: str | None) -> None:
        self.key = key
        self.platform, self.metric = platform, metric
        self.account_end = len(platform) + 1 + len(account)  # where the account ends in the key
        self.n = 0
        self.last_ts = -1  # event time of the last applied update
        self.prev_ts = -1  # event time of the one before it
        self.last_value = 0.0
        self.peak = -1.0
        self.peak_before_jump = -1.0  # >= 0 while a jump up waits for a second look
        self.step_mean = 0.0  # usual change from one update to the next
        self.noise = 0.0  # usual deviation from that change: jitter, not trend
        self.decline_ts = 0  # first update of the current decline, 0 when none
        self.phase = OK
        self.dip: _DipFields | None = None
        self.gap_ms = 0.0  # running median of the gaps between updates: the series' cadence
        self.gap_spread = 0.0  # running mean deviation from it: the poller's jitter
        self.ring: list[float] | tuple[float, ...] = _NO_RING  # up to _RING recent distinct values
        self.ring_i = 0
        self.growth = GrowthWindows()
        self.epoch = -1
        self.pending: list[float] | tuple[()] = NO_PENDING  # waiting updates, [ts, value, ts, ...] in ts order
        self.tail_ts = -1  # newest event time taken, released or pending
        self.due_ms = -1  # when the Detector must next look at this series; -1 when not scheduled

    @property
    def account(self) -> str:
        return self.key[len(self.platform) + 1 : self.account_end]

    @property
    def post(self) -> str | None:
        at = self.account_end + 1 + len(self.metric)
        return self.key[at + 1 :] if len(self.key) > at else None

    onset_ms = _dip_field("onset_ms", 0)
    hold_until_ms = _dip_field("hold_until_ms", 0)
    baseline = _dip_field("baseline", 0.0)
    low = _dip_field("low", 0.0)
    loss = _dip_field("loss", 0.0)
    is_slow = _dip_field("is_slow", False)
    dip_level = _dip_field("dip_level", 0.0)
    dip_rate = _dip_field("dip_rate", 0.0)
    level = _dip_field("level", 0.0)
    before_last = _dip_field("before_last", 0.0)
    third_last = _dip_field("third_last", 0.0)
    restored = _dip_field("restored", -1.0)


def _remember_value(state: SeriesState, value: float) -> None:
    """Write `value` at the ring's cursor, growing the ring until it holds _RING values."""
    ring, at = state.ring, state.ring_i
    if at < len(ring):
        ring[at] = value  # type: ignore[index]
    elif ring:
        ring.append(value)  # type: ignore[union-attr]
    else:
        state.ring = [value]
    state.ring_i = (at + 1) % _RING


def threshold(peak: float, noise: float, cfg: DetectorConfig) -> float:
    """Smallest fall below `peak` that counts as a drop for a series of this noise.

    >>> threshold(100_000.0, 0.0, DetectorConfig())
    2000.0
    >>> threshold(500.0, 0.0, DetectorConfig())  # the absolute floor
    20.0
    """
    relative = peak * cfg.min_drop_pct / 100.0
    return max(relative, cfg.min_drop_abs, cfg.noise_factor * noise)


def step(state: SeriesState, ts: int, value: float, cfg: DetectorConfig) -> Outcome | None:
    """Apply one update (already in event-time order, newer than the last); maybe decide.

    The normal case (no dip open) is written inline: it runs for nearly every update.
    """
    phase = state.phase
    if state.last_ts >= 0:
        young = state.n if state.n < GAP_YOUNG_UPDATES else 0  # n - 1 gaps seen before this one
        state.gap_ms, state.gap_spread = learn_gap(state.gap_ms, state.gap_spread, ts - state.last_ts, young)
    state.prev_ts = state.last_ts
    state.last_ts = ts
    state.n += 1
    last = state.last_value
    state.last_value = value
    if phase != OK:
        if phase == DIPPING:
            return _step_dipping(state, ts, value, cfg)
        return _step_paged(state, ts, value, last, cfg)
    outcome = None
    peak = state.peak
    if value >= peak:
        # A jump up by a drop's worth is confirmed by the next update before it becomes the peak.
        is_jump = value - peak >= cfg.min_drop_abs and peak >= 0.0
        state.peak_before_jump = peak if is_jump and value - peak >= threshold(peak, state.noise, cfg) else -1.0
        state.peak = value
        state.decline_ts = 0
    else:
        outcome = _below_peak(state, ts, value, last, cfg)
        if state.phase != OK:
            return outcome
    if state.n > 2:  # jitter around the usual step: a steady decline has little, so can't mask itself
        change = value - last
        mean = state.step_mean + (change - state.step_mean) * _NOISE_ALPHA
        state.step_mean = mean
        state.noise += (abs(change - mean) - state.noise) * _NOISE_ALPHA
    if value != last:  # _remember_value, inlined: this runs for nearly every update
        ring, at = state.ring, state.ring_i
        if at < len(ring):
            ring[at] = value  # type: ignore[index]
        elif ring:
            ring.append(value)  # type: ignore[union-attr]
        else:
            state.ring = [value]
        state.ring_i = (at + 1) % _RING
    growth = state.growth
    if ts - growth.start_ts >= cfg.stall_window_ms and growth.observe(ts, value, cfg.stall_window_ms):
        return _maybe_stall(state, ts, value, cfg)
    return outcome


def step_many(
    state: SeriesState, items: list[tuple[int, float]], cfg: DetectorConfig
) -> list[Outcome]:
    """`step()` over a run of (ts, value) updates of one series, in order; the same outcomes, faster."""
    return step_many_flat(state, [field for item in items for field in item], cfg)


def step_many_flat(state: SeriesState, flat: list[float], cfg: DetectorConfig) -> list[Outcome]:
    """`step_many()` over updates laid out flat, `[ts, value, ts, value, ...]`: how a series keeps
    its pending updates (a pair tuple per update cost 56 bytes while it waited).

    While nothing happens (no dip, a new peak or the same level, no jump, no window closing) the
    run is applied with the state held in local variables, which is several times cheaper than
    attribute access per update; anything else is handed to `step()` itself.
    """
    outcomes: list[Outcome] = []
    index, count = 0, len(flat) // 2
    while index < count:
        index = _step_plain_run(state, flat, index, cfg)
        if index < count:
            ts, value = flat[2 * index], flat[2 * index + 1]
            if state.phase == DIPPING and ts > (deadline := quiet_deadline_ms(state)):
                # The silence before this update already made the page, at the deadline: decided
                # in event time, so a run taken in one call decides what updates one by one do.
                outcomes.append(expire_hold(state, deadline, quiet=True))
            outcome = step(state, ts, value, cfg)
            if outcome is not None:
                outcomes.append(outcome)
            index += 1
    return outcomes


def _step_plain_run(state: SeriesState, flat: list[float], index: int, cfg: DetectorConfig) -> int:
    """Apply updates from `index` while they are plain; return the index of the first that is not."""
    if state.phase != OK or state.n < GAP_YOUNG_UPDATES or state.peak_before_jump >= 0.0:
        return index  # a young series learns its cadence in step()
    peak, last, noise, mean = state.peak, state.last_value, state.noise, state.step_mean
    # Bounds from the threshold without its noise term, at the run's start: thresholds never fall
    # below them while the run lasts, so what passes here is plain under step()'s rules too.
    floor = threshold(peak, 0.0, cfg)
    quarter = _DECLINE_START * floor
    if quarter > _ATTRITION_START * peak:
        quarter = _ATTRITION_START * peak
    dip_floor = peak - quarter
    window_end = state.growth.start_ts + cfg.stall_window_ms
    ring, ring_i = state.ring, state.ring_i
    alpha = _NOISE_ALPHA
    gap_ms, spread, prev = state.gap_ms, state.gap_spread, state.last_ts
    up, down, spread_alpha = _GAP_UP, _GAP_DOWN, SPREAD_ALPHA  # locals: globals cost a lookup per use
    start = index
    for ts, value in zip(islice(flat, 2 * start, None, 2), islice(flat, 2 * start + 1, None, 2)):
        if value <= dip_floor or value - peak >= floor or ts >= window_end:
            break
        gap = ts - prev
        prev = ts
        if gap > gap_ms:
            gap_ms = gap if gap < gap_ms * up else gap_ms * up
        elif gap < gap_ms:
            gap_ms = gap if gap > gap_ms * down else gap_ms * down
        deviation = gap - gap_ms
        spread += ((deviation if deviation >= 0.0 else -deviation) - spread) * spread_alpha
        change = value - last
        mean += (change - mean) * alpha
        deviation = change - mean
        noise += ((deviation if deviation >= 0.0 else -deviation) - noise) * alpha
        if value != last:
            if ring_i < len(ring):
                ring[ring_i] = value
            elif ring:
                ring.append(value)
            else:
                ring = state.ring = [value]
            ring_i = (ring_i + 1) % _RING
        last = value
        if value > peak:
            peak, dip_floor = value, value - quarter
        index += 1
    if index > start:
        state.peak, state.last_value, state.noise, state.step_mean = peak, last, noise, mean
        state.ring_i = ring_i
        state.gap_ms, state.gap_spread = gap_ms, spread
        # The run's times are read back once here rather than carried through the loop.
        state.prev_ts = flat[2 * index - 4] if index - start >= 2 else state.last_ts
        state.last_ts = flat[2 * index - 2]
        state.n += index - start
        state.decline_ts = 0
    return index


def _below_peak(
    state: SeriesState, ts: int, value: float, last: float, cfg: DetectorConfig
) -> Outcome | None:
    drawdown = state.peak - value
    limit = threshold(state.peak, state.noise, cfg)
    if state.peak_before_jump >= 0.0:
        # The last update jumped up; falling straight back means it was a spike, not a new level.
        # Falling far below the level before the jump too is a drop, and the jump was growth: the
        # drop is then judged against the jump (a fast-growing post's true level).
        state.peak_before_jump, before_jump = -1.0, state.peak_before_jump
        if drawdown >= limit:
            before = max(before_jump, value)
            if before - value < threshold(before, state.noise, cfg):
                state.peak = before
                return None
    if drawdown >= limit and state.n > cfg.warmup_updates and _beyond_rounding(state.peak, value, last, cfg):
        return _open_dip(state, ts, value, last, cfg)
    start = _DECLINE_START * limit
    if start > _ATTRITION_START * state.peak:
        start = _ATTRITION_START * state.peak
    if drawdown > start and drawdown > cfg.noise_factor * state.noise:
        if state.decline_ts == 0:
            state.decline_ts = ts
        elif ts - state.decline_ts >= cfg.settle_ms:  # a small loss that lasted is the new level
            state.peak = value
            state.decline_ts = 0
        elif _is_attrition(state, ts, value, last, drawdown, cfg):
            return _open_dip(state, ts, value, last, cfg)
    else:
        state.decline_ts = 0
    return None


def _is_attrition(
    state: SeriesState, ts: int, value: float, last: float, drawdown: float, cfg: DetectorConfig
) -> bool:
    """A net loss too small for a drop that has built up for an hour or more: attrition.

    Found once it reaches 0.3 % of the count (and the absolute floor, and well past the noise
    and display rounding); a loss that growth hides entirely shows as a growth stall instead.
    """
    if ts - state.decline_ts < _ATTRITION_MIN_MS or state.n <= cfg.warmup_updates:
        return False
    floor = _ATTRITION_MIN_SHARE * state.peak
    if floor < cfg.min_drop_abs:
        floor = cfg.min_drop_abs
    if drawdown < floor or drawdown < cfg.noise_factor * state.noise:
        return False
    return _beyond_rounding(state.peak, value, last, cfg)


def _beyond_rounding(peak: float, value: float, last: float, cfg: DetectorConfig) -> bool:
    """The fall is more than display rounding could make (steps read off the shown values)."""
    return peak - value >= cfg.rounding_factor * display_step(peak, value, last)


def _remember(state: SeriesState, value: float) -> None:
    ring = state.ring
    if not ring or value != ring[state.ring_i - 1]:
        _remember_value(state, value)


def _maybe_stall(state: SeriesState, ts: int, value: float, cfg: DetectorConfig) -> Outcome | None:
    floor = threshold(state.peak, 0.0, cfg)
    return stall_event(state.growth, ts, value, floor, cfg.stall_ratio)


def from_dip(kind: str, state: SeriesState, at_ms: int, cause: Cause = Cause.UNKNOWN) -> Outcome:
    """An outcome about the series' current dip, with its numbers frozen now."""
    return Outcome(kind, at_ms, state.onset_ms, state.baseline, state.low, cause)


def _open_dip(
    state: SeriesState, ts: int, value: float, last: float, cfg: DetectorConfig
) -> Outcome | None:
    """A drop crossed the threshold: date its onset and start the hold."""
    # Slow when most of the loss came before this update: a bleed, not one step.
    is_slow = state.decline_ts != 0 and last - value < 0.5 * (state.peak - value)
    onset = state.decline_ts if is_slow else ts
    state.phase = DIPPING
    state.onset_ms = onset
    state.hold_until_ms = max(hold_end_ms(onset, cadence_ms(state), cfg), ts)
    state.baseline = state.peak
    state.low = value
    state.loss = state.peak - value
    state.is_slow = is_slow
    state.dip_level = state.level = value
    state.dip_rate = max(state.growth.rate_ref(state.prev_ts, last), 0.0)
    state.decline_ts = 0
    return from_dip("opened", state, ts)


def _step_dipping(state: SeriesState, ts: int, value: float, cfg: DetectorConfig) -> Outcome | None:
    if value < state.low:
        state.low = value
    if _has_regained(state.baseline, state, value, cfg):
        outcome = from_dip("glitch", state, ts, cause=_glitch_cause(state))
        state.phase = OK
        state.peak = max(state.baseline, value)
        _remember(state, value)
        return outcome
    if ts > state.hold_until_ms:  # the first observation after the hold still shows the drop
        return expire_hold(state, ts)
    return None


def _is_restore(
    state: SeriesState, ts: int, value: float, last: float, before: float, cfg: DetectorConfig
) -> bool:
    """The lost amount came back as a step (within two updates) to near the expected level.

    Expected: the baseline grown in proportion to the level the count fell to (growth is
    proportional to size), so the daily rhythm and any burst since the drop move the target with
    it, and a count that climbs back by growth never makes a step of the loss's size. A count
    shown as zero meanwhile tells nothing of growth: then the restore must bring back the loss
    and may land above it by up to three times the old pace (a busy hour) since the onset. Above
    the expected level, half the loss and the old pace since the onset are allowed.
    """
    loss = state.loss
    step_from = last if last < before else before
    if value - step_from < cfg.recover_fraction * loss:
        return False
    short = (1.0 - cfg.recover_fraction) * loss
    pace = state.dip_rate * (ts - state.onset_ms)  # growth at the old pace since the onset
    if state.dip_level > 0.0:
        # The old pace as well: a fast-growing count's baseline is already behind by the drop.
        expected = state.baseline * (state.level / state.dip_level)
        return expected - short <= value <= expected + _LANDING_ABOVE * loss + pace
    return state.baseline - short <= value <= state.baseline + _LANDING_ABOVE * loss + _ZERO_PACE_ALLOWANCE * pace


def cadence_ms(state: SeriesState) -> float:
    """The series' learned poll interval (a default until it has one)."""
    return state.gap_ms if state.gap_ms > 0.0 else _DEFAULT_GAP_MS


def quiet_deadline_ms(state: SeriesState) -> int:
    """When a dip whose hold ended without any observation is taken as a page on silence."""
    return state.hold_until_ms + quiet_after_ms(cadence_ms(state), state.gap_spread)


def expire_hold(state: SeriesState, at_ms: int, quiet: bool = False) -> Outcome:
    """Evidence after the hold: the loss is still there (`at_ms` is that observation), or the
    series went quiet (`at_ms` is the quiet deadline). The dip becomes a page."""
    state.phase = PAGED
    level = state.last_value
    state.peak = level  # from now on the peak is the level since the page
    state.before_last = state.third_last = level
    state.restored = -1.0
    state.growth.reset()
    outcome = from_dip("paged", state, at_ms, cause=_page_cause(state))
    outcome.quiet = quiet
    return outcome


def _step_paged(state: SeriesState, ts: int, value: float, last: float, cfg: DetectorConfig) -> Outcome | None:
    if value < state.low:
        state.low = value
    before, third = state.before_last, state.third_last
    state.before_last, state.third_last = last, before
    if before > state.level:
        state.level = before
    restored = state.restored
    if restored >= 0.0:
        state.restored = -1.0
        # The step held: a level shift back (a restore), not the first polls of a burst still
        # climbing; a count may go on growing meanwhile, up to twice its old pace.
        settle = _RESTORE_SETTLE * state.loss
        if -settle <= value - restored <= settle + 2.0 * state.dip_rate * (ts - state.prev_ts):
            _return_to_normal(state, value)
            return from_dip("recovered", state, ts, cause=Cause.OUTAGE)
    if before - third <= _STEADY_BEFORE * state.loss and _is_restore(state, ts, value, last, before, cfg):
        state.restored = value  # confirmed, or not, by the next update
        return None
    if ts - state.onset_ms >= cfg.settle_ms:  # a lasting loss becomes the new normal, silently
        _return_to_normal(state, value)
        return None
    return _watch_paged_level(state, ts, value, last, cfg)


def _watch_paged_level(
    state: SeriesState, ts: int, value: float, last: float, cfg: DetectorConfig
) -> Outcome | None:
    """A paged series is still watched for a new, abrupt drop below the level it fell to (an
    outage on top of a purge): that is a new incident, and the old page is taken as settled."""
    if value >= state.peak:
        state.peak = value
        return None
    drawdown = state.peak - value
    if drawdown < threshold(state.peak, state.noise, cfg) or last - value < 0.5 * drawdown:
        return None
    if state.is_slow and last - value < state.loss:
        return None  # an attrition goes on bleeding (in big steps on a slow poll): the same incident
    if not _beyond_rounding(state.peak, value, last, cfg):
        return None
    return _open_dip(state, ts, value, last, cfg)


def _return_to_normal(state: SeriesState, value: float) -> None:
    state.phase = OK
    state.peak = value
    state.noise = 0.0
    state.growth.reset()
    _remember(state, value)


def _has_regained(target: float, state: SeriesState, value: float, cfg: DetectorConfig) -> bool:
    """The gap below `target` has closed to within (1 - recover_fraction) of the opening loss.

    The opening loss, not the deepest: a glitch to zero on top of a purge must not make the
    purged level look like 80 % of the way back.
    """
    return target - value <= (1.0 - cfg.recover_fraction) * state.loss


def _is_stale(state: SeriesState) -> bool:
    """The low equals a value the series showed a little earlier: a stale replica or cache."""
    return state.low > 0.0 and state.low in state.ring


def _glitch_cause(state: SeriesState) -> Cause:
    return Cause.DELAY if _is_stale(state) else Cause.GLITCH


def _page_cause(state: SeriesState) -> Cause:
    if state.low <= 0.0:
        return Cause.REMOVAL
    if state.is_slow:
        return Cause.ATTRITION
    if _is_stale(state):
        return Cause.DELAY
    return Cause.PURGE


__all__ = ["DIPPING", "NO_PENDING", "OK", "PAGED", "SeriesState", "expire_hold", "quiet_deadline_ms", "step",
           "step_many", "step_many_flat"]
