"""Seeded generator of a realistic live stream of metric updates, with every incident labelled."""

from __future__ import annotations

import math
import random
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field, fields
from pathlib import Path

import orjson

from streams.formats.codec import format_time
from streams.engine.cadence import hold_polls, side_of_hold
from streams.engine.config import HOUR_MS, MINUTE_MS, DetectorConfig
from streams.engine.types import series_key

DAY_MS = 24 * HOUR_MS
PLATFORMS = ("instagram", "tiktok", "x", "youtube")
_VIEW_PLATFORMS = ("tiktok", "youtube")
_POST_PREFIX = {"instagram": "p", "tiktok": "t", "x": "s", "youtube": "v"}
_FOREVER_MS = 1 << 62

#: The detector stays silent while a series is young: the first hour holds no incident.
_WARMUP_MS = HOUR_MS
#: No incident starts this close to the end, so every outcome (page, recovery) is seen in the run.
_TAIL_MS = 2 * HOUR_MS
#: Incidents of one series stay this far apart, so each is judged on its own.
_SEPARATION_MS = 3 * HOUR_MS
#: Room kept after a display fault, since its first correct poll may follow a poll gap.
_DISPLAY_MARGIN_MS = 10 * MINUTE_MS
#: A glitch is over (first correct poll) within this, safely inside the detector's 15-minute hold.
_GLITCH_MAX_MS = 12 * MINUTE_MS
#: Polls a glitch shows a wrong value: mostly one or two, rarely eleven.
_GLITCH_POLLS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11)
_GLITCH_POLL_WEIGHTS = (30, 20, 13, 9, 7, 5, 4, 4, 3, 3, 2)
_GLITCH_KINDS = ("glitch_zero", "glitch_pct", "glitch_stale")
_GLITCH_KIND_WEIGHTS = (25, 45, 30)
#: A labelled glitch clears the detector's defaults (2 %, 20 counts) with margin, else it is no incident.
_MIN_DROP_FRACTION = 0.025
_MIN_DROP_COUNT = 25
#: Growth and decay of the per-series noise; an AR(1) keeps it from drifting like a slow loss.
_NOISE_MEMORY = 0.7
#: A missed poll starts a gap of 2-5 polls; at this rate about 1 % of polls are missing.
_GAP_START = 0.01 / 3.5
#: Share of lines using each ts form (the rest are RFC 3339 strings), late and duplicated updates.
_EPOCH_S_SHARE, _EPOCH_MS_SHARE = 0.10, 0.05
_LATE_SHARE, _DUPLICATE_SHARE = 0.02, 0.005
_MALFORMED_HINTS = (
    "not_json", "not_object", "missing_field", "negative_value", "bad_value", "bad_time", "non_finite"
)
_DISPLAY_FAULTS = frozenset({*_GLITCH_KINDS, "outage"})
_EXPECT = {
    "purge": "page", "removal": "page", "attrition": "page", "outage": "page", "reach": "stall",
    "viral": "none", "glitch_zero": "glitch", "glitch_pct": "glitch", "glitch_stale": "glitch",
    "glitch_long": "page",
}
#: Where a display fault shows a wrong value again: ends with the right value, so recovers.
_RECOVERING = frozenset({*_GLITCH_KINDS, "outage", "glitch_long"})

# --- the broad mix: streams as hard as real ones (`mix="broad"`) ---------------------------------
#: Poll intervals of a real poller fleet (30 s to 15 min) and the share of series on each.
BROAD_CADENCES_MS = (30_000, 60_000, 120_000, 300_000, 600_000, 900_000)
_CADENCE_WEIGHTS = (15, 25, 15, 20, 12, 13)
#: The "slow" mix: the broad mix with every series polled every 5, 10 or 15 minutes.
_SLOW_CADENCE_WEIGHTS = (0, 0, 0, 1, 1, 1)
#: Jitter of each poll around its slot, as a share of the interval: most pollers are steady, some not.
_JITTER_SHARES, _JITTER_WEIGHTS = (1 / 6, 1 / 3), (70, 30)
#: Missed polls: twice as common as in the minute mix.
_BROAD_GAP_START = 0.02 / 3.5
#: Daily rhythm: activity follows the local hour, peaking in the evening of the account's time zone.
_RHYTHM_AMPLITUDE = (0.3, 0.95)
_TZ_OFFSETS_H = (-8, -5, -3, 0, 1, 3, 5.5, 8, 9)
#: Growth bursts (a post going viral): per series per day, Pareto sizes (tail index 1.3), capped.
_BURSTS_PER_DAY, _BURST_TAIL, _BURST_MIN, _BURST_MAX = 0.5, 1.3, 0.03, 3.0
#: After half of all purges the account regrows the lost share organically over 4-30 hours.
_REGROWTH_SHARE, _REGROWTH_H = 0.5, (4.0, 30.0)
#: Glitch lengths by class: short (within the hold), just under / just over the hold, long (hours).
_GLITCH_CLASSES, _GLITCH_CLASS_WEIGHTS = ("short", "under", "over", "long"), (55, 18, 15, 12)
#: Late batches: a poller holds a few polls of one series and sends them together, within the lateness.
_BATCH_START, _BATCH_MAX_DELAY_MS = 0.01, 4 * MINUTE_MS
_DEFAULTS = DetectorConfig()


#: The default start of a simulated stream: a fixed whole hour (2026-11-18T08:00Z), so the same seed
#: gives the same file on any day. Streams for a live InfluxDB start at `start_ending_at(now)` instead.
FIXED_START_MS = (1_795_000_000_000 // HOUR_MS) * HOUR_MS


def start_ending_at(end_ms: int, hours: float) -> int:
    """The whole-hour start that makes a stream of `hours` end no later than `end_ms`.

    A stream written to InfluxDB must fall inside its retention policy, so `dipwatch simulate`
    and the tests that write to InfluxDB place it just before now rather than at a fixed date.

    >>> start_ending_at(10 * HOUR_MS + 5, hours=2.5) == 7 * HOUR_MS
    True
    """
    return ((end_ms - int(hours * HOUR_MS)) // HOUR_MS) * HOUR_MS


@dataclass(frozen=True)
class SimulationSpec:
    """What to simulate; the incident rates default to realistic values and tests raise them."""

    seed: int = 1
    accounts: int = 300
    hours: float = 24.0
    start_ms: int = FIXED_START_MS
    poll_ms: int = 60_000
    malformed_lines: int = 12
    purge_share: float = 0.04
    attrition_share: float = 0.02
    reach_share: float = 0.02
    removal_share: float = 0.03
    viral_share: float = 0.02
    glitches_per_day: float = 1.5
    platform_incidents: bool = True
    #: "minute": every series polled once a minute (`poll_ms`); "broad": cadences of 30 s to 15 min
    #: with jitter and missed polls, late batches, daily rhythms, growth bursts, regrowth after
    #: purges and glitches of every length around each cadence's hold; "slow": broad, with every
    #: series polled every 5 to 15 minutes.
    mix: str = "minute"

    def __post_init__(self) -> None:
        if self.mix not in MIXES:
            raise ValueError(f"mix must be one of {', '.join(MIXES)}, got {self.mix!r}")
        for name, (low, high) in _SPEC_RANGES.items():
            if not low <= getattr(self, name) <= high:
                raise ValueError(f"{name} must be in [{low}, {high}], got {getattr(self, name)}")
        # Whole seconds, so every ts form (RFC 3339, epoch s, epoch ms) states the same instant.
        for name in ("start_ms", "poll_ms"):
            if getattr(self, name) % 1000:
                raise ValueError(f"{name} must be a whole number of seconds, got {getattr(self, name)}")

    @property
    def end_ms(self) -> int:
        return self.start_ms + int(self.hours * HOUR_MS)


MIXES = ("minute", "broad", "slow")

_SPEC_RANGES: dict[str, tuple[float, float]] = {
    "accounts": (1, 100_000), "hours": (0.01, 24 * 365), "poll_ms": (10_000, HOUR_MS),
    "malformed_lines": (0, 1_000_000), "purge_share": (0, 1), "attrition_share": (0, 1), "reach_share": (0, 1),
    "removal_share": (0, 1), "viral_share": (0, 1),
    # At 8 a day, glitches of one series sit back to back at the 3-hour separation.
    "glitches_per_day": (0, 8),
}


@dataclass
class Simulation:
    lines: list[bytes]
    truth: dict


@dataclass(eq=False)
class _Incident:
    cause: str
    fault_ms: int
    until_ms: int | None = None  # display faults: the right value is shown again from here
    size: float = 0.0  # fraction lost (purge, attrition, glitch_pct, outage) or gained (viral)
    ramp_ms: int = 0  # attrition's bleed, viral's rise
    lag_ms: int = 0  # glitch_stale: age of the value shown
    group: _PlatformIncident | None = None
    applied: bool = True
    onset_ms: int = 0
    end_ms: int | None = None
    drop_pct: float = 0.0


@dataclass(eq=False)
class _PlatformIncident:
    cause: str
    platform: str
    metric: str
    members: list[_Incident]
    id: str = ""


@dataclass(eq=False)
class _Series:
    platform: str
    account: str
    metric: str
    post: str | None
    size: float  # followers at the start, or a post's final count
    publish_ms: int
    half_life_ms: float
    noise: float
    omit_post: bool
    ts: list[int] = field(default_factory=list)
    rates: list[tuple[int, float]] = field(default_factory=list)  # followers: (from_ms, growth per ms)
    busy: list[tuple[int, int]] = field(default_factory=list)
    incidents: list[_Incident] = field(default_factory=list)
    poll_ms: int = 60_000
    jitter: float = 1 / 6  # each poll lands within this share of the interval around its slot
    rhythm: float = 0.0  # amplitude of the daily rhythm of growth (0: none)
    rhythm_peak_ms: int = 0  # UTC time of day of the busiest hour

    @property
    def key(self) -> str:
        return series_key(self.platform, self.account, self.metric, self.post)


def simulate(spec: SimulationSpec) -> Simulation:
    """The whole run: world, incidents, values, lines in arrival order, and the truth about them."""
    rng = random.Random(spec.seed)
    # The broad mix draws its extras from a second stream, so the minute mix stays as it was.
    extra = random.Random(f"broad-{spec.seed}") if spec.mix != "minute" else None
    world = _build_world(rng, spec, extra)
    groups = _schedule_platform_incidents(rng, spec, world)
    _schedule_account_incidents(rng, spec, [s for s in world if s.post is None], extra)
    _schedule_removals(rng, spec, world)
    _schedule_virals(rng, spec, world)
    if extra is not None:
        _schedule_bursts(extra, spec, world)
    rendered = [(s, _render(rng, spec, s, extra)) for s in world if s.ts]
    updates, arrivals = _emit(rng, rendered, extra)
    ordered = [updates[i] for i in sorted(range(len(updates)), key=arrivals.__getitem__)]
    lines, malformed = _mix_in_malformed(rng, ordered, spec.malformed_lines)
    return Simulation(lines, _truth(spec, [s for s, _ in rendered], groups, len(updates), malformed))


def write_simulation(sim: Simulation, out_dir: Path) -> tuple[Path, Path]:
    """Write events.jsonl and truth.json into out_dir (created if needed); return both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    events, truth = out_dir / "events.jsonl", out_dir / "truth.json"
    events.write_bytes(b"".join(line + b"\n" for line in sim.lines))
    truth.write_bytes(orjson.dumps(sim.truth, option=orjson.OPT_INDENT_2) + b"\n")
    return events, truth


# --- the world: accounts, posts, poll times -------------------------------------------------------


def _log_uniform(rng: random.Random, low: float, high: float) -> float:
    return math.exp(rng.uniform(math.log(low), math.log(high)))


def _build_world(rng: random.Random, spec: SimulationSpec, extra: random.Random | None) -> list[_Series]:
    world: list[_Series] = []
    for number in range(spec.accounts):
        platform, account = PLATFORMS[number % len(PLATFORMS)], f"acct{number:04d}"
        followers = _Series(platform, account, "followers", None, _log_uniform(rng, 500, 50e6),
                            spec.start_ms, 0.0, rng.uniform(2e-5, 2e-4), rng.random() < 0.5)
        followers.rates = [(spec.start_ms, math.log1p(rng.uniform(0.0, 0.03)) / DAY_MS)]
        world.append(followers)
        for index in range(1 if rng.random() < 0.7 else 2):
            world.extend(_post_series(rng, spec, platform, account, f"{_POST_PREFIX[platform]}{index + 1}"))
    if extra is None:
        for s in world:
            s.poll_ms = spec.poll_ms
    else:
        _give_cadences_and_rhythms(extra, world, _SLOW_CADENCE_WEIGHTS if spec.mix == "slow" else _CADENCE_WEIGHTS)
    gap_start = _GAP_START if extra is None else _BROAD_GAP_START
    for s in world:
        s.ts = _poll_times(rng, max(spec.start_ms, s.publish_ms), spec.end_ms, s.poll_ms, s.jitter, gap_start)
    return world


def _give_cadences_and_rhythms(extra: random.Random, world: list[_Series], weights: tuple[int, ...]) -> None:
    """Broad mix: each series its own poll interval and jitter; each account a time zone and a rhythm."""
    rhythm: dict[str, tuple[float, int]] = {}
    for s in world:
        s.poll_ms = extra.choices(BROAD_CADENCES_MS, weights)[0]
        s.jitter = extra.choices(_JITTER_SHARES, _JITTER_WEIGHTS)[0]
        if s.account not in rhythm:
            # Busiest around 20:00 local time; the zone decides when that is in UTC.
            peak_h = (20 - extra.choice(_TZ_OFFSETS_H) + extra.uniform(-2, 2)) % 24
            rhythm[s.account] = (extra.uniform(*_RHYTHM_AMPLITUDE), int(peak_h * HOUR_MS))
        s.rhythm, s.rhythm_peak_ms = rhythm[s.account]


def _post_series(
    rng: random.Random, spec: SimulationSpec, platform: str, account: str, post: str
) -> list[_Series]:
    # Half the posts exist before the run, half are published during it and start from zero.
    if rng.random() < 0.5:
        publish_ms = spec.start_ms - int(rng.uniform(0, 36) * 3600) * 1000
    else:
        publish_ms = spec.start_ms + int(rng.uniform(0, 0.75 * spec.hours) * 3600) * 1000
    half_life_ms, likes = rng.uniform(3, 12) * HOUR_MS, _log_uniform(rng, 50, 2e6)
    # Views run 8-60 times likes on the platforms that show them.
    sizes = {"likes": likes, "views": likes * rng.uniform(8, 60)}
    metrics = ("likes", "views") if platform in _VIEW_PLATFORMS else ("likes",)
    return [_Series(platform, account, metric, post, sizes[metric], publish_ms, half_life_ms,
                    rng.uniform(2e-5, 2e-4), False) for metric in metrics]


def _poll_times(
    rng: random.Random, first_ms: int, end_ms: int, poll_ms: int, jitter: float = 1 / 6,
    gap_start: float = _GAP_START,
) -> list[int]:  # fmt: skip
    """About one poll per poll_ms, jittered by `jitter` of it (a sixth: ±10 s a minute), in whole
    seconds, with rare gaps of 2-5 polls."""
    rand, jitter_s = rng.random, int(poll_ms * jitter) // 1000
    t = first_ms + int(rand() * poll_ms / 1000) * 1000
    out: list[int] = []
    skip = 0
    while t < end_ms:
        if skip:
            skip -= 1
        elif rand() < gap_start:
            skip = 1 + int(rand() * 4)
        else:
            polled = t + (int(rand() * (2 * jitter_s + 1)) - jitter_s) * 1000
            if first_ms <= polled < end_ms:
                out.append(polled)
        t += poll_ms
    return out


# --- scheduling incidents --------------------------------------------------------------------------


def _is_free(s: _Series, lo: int, hi: int) -> bool:
    return all(lo >= b_hi + _SEPARATION_MS or hi + _SEPARATION_MS <= b_lo for b_lo, b_hi in s.busy)


def _book(s: _Series, inc: _Incident, lo: int, hi: int) -> _Incident:
    s.busy.append((lo, hi))
    s.incidents.append(inc)
    return inc


def _place(
    rng: random.Random, group: list[_Series], lo: int, hi: int, before_ms: int, after_ms: int
) -> int | None:
    """A fault time in [lo, hi] whose span keeps clear of every incident of the series in group."""
    for _ in range(12):
        if hi < lo:
            return None
        t = lo + int(rng.random() * (hi - lo)) // 1000 * 1000
        if all(_is_free(s, t - before_ms, t + after_ms) for s in group):
            return t
    return None


def _schedule_platform_incidents(
    rng: random.Random, spec: SimulationSpec, world: list[_Series]
) -> list[_PlatformIncident]:
    if not spec.platform_incidents:
        return []
    order = list(PLATFORMS)
    rng.shuffle(order)
    # Outage and purge hit followers on two different platforms, so no series gets both.
    groups = [_platform_purge(rng, spec, world, order[0]), *_platform_outages(rng, spec, world, order[1]),
              _platform_glitch(rng, spec, world, rng.choice(PLATFORMS))]
    return [g for g in groups if g is not None and g.members]


def _members(world: list[_Series], platform: str, metric: str) -> list[_Series]:
    return [s for s in world if s.platform == platform and s.metric == metric]


def _platform_purge(
    rng: random.Random, spec: SimulationSpec, world: list[_Series], platform: str
) -> _PlatformIncident | None:
    lo, hi = spec.start_ms + _WARMUP_MS, spec.end_ms - _TAIL_MS - 3 * MINUTE_MS
    if hi < lo:
        return None
    t0, group = rng.randint(lo, hi), _PlatformIncident("purge", platform, "followers", [])
    for s in _members(world, platform, "followers"):
        # "A few %": from just above the contract's 2 % drop threshold (a smaller loss is no drop).
        size = rng.uniform(0.025, 0.06)
        if rng.random() < 0.8 and s.size * size >= 30:
            fault = t0 + int(rng.random() * 3 * MINUTE_MS)
            # A purge is forever: nothing else is scheduled on the series after it.
            group.members.append(_book(s, _Incident("purge", fault, size=size, group=group), fault, _FOREVER_MS))
    return group


def _platform_outages(
    rng: random.Random, spec: SimulationSpec, world: list[_Series], platform: str
) -> list[_PlatformIncident]:
    groups, lo = [], spec.start_ms + _WARMUP_MS
    for _ in range(1 + (rng.random() < 0.5)):
        hi = spec.end_ms - _TAIL_MS - 2 * MINUTE_MS
        if hi < lo:
            break
        t0 = rng.randint(lo, hi)
        # Ends early enough that the recovery is seen before the run ends.
        duration = int(rng.uniform(40 * MINUTE_MS, min(6 * HOUR_MS, spec.end_ms - t0 - 35 * MINUTE_MS)))
        group = _PlatformIncident("outage", platform, "followers", [])
        for s in _members(world, platform, "followers"):
            if rng.random() < 0.7 and _is_free(s, t0, t0 + duration + _DISPLAY_MARGIN_MS):
                fault = t0 + int(rng.random() * 2 * MINUTE_MS)
                until = t0 + duration + int(rng.random() * 2 * MINUTE_MS)
                inc = _Incident("outage", fault, until, size=rng.uniform(0.05, 0.30), group=group)
                group.members.append(_book(s, inc, fault, until + _DISPLAY_MARGIN_MS))
        groups.append(group)
        lo = t0 + duration + 2 * MINUTE_MS + _DISPLAY_MARGIN_MS + _SEPARATION_MS
    return groups


def _platform_glitch(
    rng: random.Random, spec: SimulationSpec, world: list[_Series], platform: str
) -> _PlatformIncident | None:
    lo, hi = spec.start_ms + _WARMUP_MS, spec.end_ms - _TAIL_MS - MINUTE_MS
    if hi < lo:
        return None
    t0, duration = rng.randint(lo, hi), int(rng.uniform(2, 8) * MINUTE_MS)
    group = _PlatformIncident("glitch", platform, "likes", [])
    for s in _members(world, platform, "likes"):
        if rng.random() < 0.6 and s.ts and s.ts[0] <= t0 - 20 * MINUTE_MS:
            fault = t0 + int(rng.random() * MINUTE_MS)
            until = t0 + duration + int(rng.random() * MINUTE_MS)
            inc = _Incident("glitch_zero", fault, until, group=group)
            group.members.append(_book(s, inc, fault, until + _DISPLAY_MARGIN_MS))
    return group


def _schedule_account_incidents(
    rng: random.Random, spec: SimulationSpec, followers: list[_Series], extra: random.Random | None = None
) -> None:
    pool = followers[:]
    rng.shuffle(pool)
    n_purge, n_attrition = round(spec.purge_share * len(pool)), round(spec.attrition_share * len(pool))
    lo, hi = spec.start_ms + _WARMUP_MS, spec.end_ms - _TAIL_MS
    for s in pool[:n_purge]:
        # Small accounts lose at least 30 followers, else the loss is below any sane threshold.
        size = max(_log_uniform(rng, 0.025, 0.15), 30 / s.size)
        if (t := _place(rng, [s], lo, hi, 0, _FOREVER_MS)) is not None:
            _book(s, _Incident("purge", t, size=size), t, _FOREVER_MS)
            if extra is not None and extra.random() < _REGROWTH_SHARE:
                _regrow_after(extra, s, t, size)
    for s in pool[n_purge:n_purge + n_attrition]:
        size, ramp = max(rng.uniform(0.03, 0.12), 40 / s.size), int(rng.uniform(2, 6) * HOUR_MS)
        # The whole bleed lies inside the run, so its full loss is seen.
        if (t := _place(rng, [s], lo, min(hi, spec.end_ms - ramp - 30 * MINUTE_MS), 0, _FOREVER_MS)) is not None:
            _book(s, _Incident("attrition", t, size=size, ramp_ms=ramp), t, _FOREVER_MS)
    fast_growers = [s for s in pool[n_purge + n_attrition:] if s.rates[0][1] >= math.log1p(0.015) / DAY_MS]
    for s in fast_growers[:round(spec.reach_share * len(pool))]:
        _schedule_reach(rng, spec, s)
    if extra is not None:
        _schedule_slow_attrition(extra, spec, [s for s in pool if not s.incidents], n_attrition, lo, hi)


def _schedule_slow_attrition(
    extra: random.Random, spec: SimulationSpec, free: list[_Series], count: int, lo: int, hi: int
) -> None:
    """Broad mix: slow attrition far below a drop, a net loss of 0.4-1 % of the count over 3-6 h
    (the loss is sized to beat the account's growth, which the daily rhythm may double)."""
    for s in extra.sample(free, min(count, len(free))):
        ramp = int(extra.uniform(3, 6) * HOUR_MS)
        size = extra.uniform(0.004, 0.01) + 2 * s.rates[0][1] * ramp
        if s.size * size < 40 or s.platform == "youtube":
            # Below the absolute floor of any sane threshold, or within two steps of a display
            # rounded to three digits (youtube): no count can show such a loss.
            continue
        if (t := _place(extra, [s], lo, min(hi, spec.end_ms - ramp - 30 * MINUTE_MS), 0, _FOREVER_MS)) is not None:
            _book(s, _Incident("attrition", t, size=size, ramp_ms=ramp), t, _FOREVER_MS)


def _regrow_after(extra: random.Random, s: _Series, t: int, size: float) -> None:
    """Organic regrowth after a purge: the account grows back the lost share over hours, by its
    usual rhythm; the count climbs past its old level although nothing was restored."""
    hours = extra.uniform(*_REGROWTH_H)
    start_ms, normal = s.rates[0]
    s.rates.append((max(t, start_ms + 1), normal - math.log1p(-size) / (hours * HOUR_MS)))


def _schedule_bursts(extra: random.Random, spec: SimulationSpec, world: list[_Series]) -> None:
    """Broad mix: heavy-tailed growth bursts (a post going viral) on followers, 5-60 minutes each."""
    for s in world:
        if not s.ts or s.post is not None:
            continue
        expected = _BURSTS_PER_DAY * spec.hours / 24
        for _ in range(sum(extra.random() < expected / 4 for _ in range(4))):
            size = min(_BURST_MAX, _BURST_MIN * extra.paretovariate(_BURST_TAIL))
            ramp = int(extra.uniform(5, 60) * MINUTE_MS)
            lo = max(spec.start_ms + _WARMUP_MS, s.ts[0] + 30 * MINUTE_MS)
            t = _place(extra, [s], lo, spec.end_ms - _TAIL_MS, 0, ramp)
            if t is not None:
                _book(s, _Incident("viral", t, size=size, ramp_ms=ramp), t, t + ramp)


def _schedule_reach(rng: random.Random, spec: SimulationSpec, s: _Series) -> None:
    """Fast growth (2-6 %/h for 4-6 h) that collapses to at most 5 % of that rate, with no loss."""
    # The detector compares two 2-hour windows, so both must lie inside the run and clear of faults.
    # Windows are not aligned with the collapse, so up to two whole windows may pass after it.
    lo, hi = spec.start_ms + 4 * HOUR_MS, spec.end_ms - 5 * HOUR_MS
    t = _place(rng, [s], lo, hi, 4 * HOUR_MS, 2 * HOUR_MS)
    if t is None:
        return
    fast = math.log1p(rng.uniform(0.02, 0.06)) / HOUR_MS
    fast_from, slow = t - int(rng.uniform(4, 6) * HOUR_MS), fast * rng.uniform(0.0, 0.05)
    start_ms, normal = s.rates[0]
    s.rates = [(start_ms, fast)] if fast_from <= start_ms else [(start_ms, normal), (fast_from, fast)]
    s.rates.append((t, slow))
    _book(s, _Incident("reach", t), t - 4 * HOUR_MS, t + 2 * HOUR_MS)


def _schedule_removals(rng: random.Random, spec: SimulationSpec, world: list[_Series]) -> None:
    """A removed post's likes and views fall to exactly 0; half the time polling stops soon after."""
    posts: dict[tuple[str, str | None], list[_Series]] = {}
    for s in world:
        if s.post is not None and s.ts:
            posts.setdefault((s.account, s.post), []).append(s)
    # Only posts big enough that the loss clears the detector's absolute threshold.
    candidates = [group for group in posts.values() if group[0].size >= 500]
    for group in rng.sample(candidates, min(round(spec.removal_share * len(posts)), len(candidates))):
        first = group[0]
        lo = max(spec.start_ms + _WARMUP_MS, first.publish_ms + 2 * HOUR_MS, first.ts[0] + HOUR_MS)
        t = _place(rng, group, lo, spec.end_ms - _TAIL_MS, 0, _FOREVER_MS)
        if t is None:
            continue
        zero_readings = rng.randint(2, 5) if rng.random() < 0.5 else None
        for s in group:
            _book(s, _Incident("removal", t), t, _FOREVER_MS)
            if zero_readings is not None:
                del s.ts[bisect_left(s.ts, t) + zero_readings:]


def _schedule_virals(rng: random.Random, spec: SimulationSpec, world: list[_Series]) -> None:
    """A jump of 20-200 % over about 10 minutes that stays: growth, not an anomaly."""
    for s in rng.sample(world, min(round(spec.viral_share * len(world)), len(world))):
        if not s.ts:
            continue
        ramp = int(rng.uniform(8, 12) * MINUTE_MS)
        lo = max(spec.start_ms + _WARMUP_MS, s.ts[0] + 30 * MINUTE_MS)
        t = _place(rng, [s], lo, spec.end_ms - _TAIL_MS, 0, ramp)
        if t is not None:
            _book(s, _Incident("viral", t, size=rng.uniform(0.2, 2.0), ramp_ms=ramp), t, t + ramp)


# --- values: trend, level changes, noise, display ---------------------------------------------------


def _render(rng: random.Random, spec: SimulationSpec, s: _Series, extra: random.Random | None = None) -> list[int]:
    """The displayed value at each poll of s after every incident; fills in each incident's truth."""
    true = _true_counts(rng, s)
    shown = [_three_digits(v) for v in true] if s.platform == "youtube" else true
    displayed = shown[:]
    for inc in s.incidents:
        if inc.cause in _DISPLAY_FAULTS:
            inc.applied = _apply_display_fault(s, inc, true, shown, displayed)
        else:
            _measure_level_change(s, inc, shown)
    if extra is None:
        _place_glitches(rng, spec, s, true, shown, displayed)
    else:
        _place_broad_glitches(extra, spec, s, true, shown, displayed)
    return displayed


def _three_digits(value: int) -> int:
    """youtube shows 3 significant digits, truncated: 1,254,321 -> 1,250,000."""
    if value < 1000:
        return value
    step = 10 ** (len(str(value)) - 3)
    return value - value % step


def _activity_clock(s: _Series, t: float) -> float:
    """Event time warped by the daily rhythm: it runs fast in busy hours and slow at night, so
    growth measured on it follows the rhythm (activity 1 + A cos(hour - peak), mean 1)."""
    if s.rhythm <= 0.0:
        return t
    phase = 2 * math.pi / DAY_MS
    return t + s.rhythm / phase * math.sin(phase * (t - s.rhythm_peak_ms))


def _trend(s: _Series) -> list[float]:
    clock = _activity_clock
    if s.post is not None:
        # A post's count saturates: growth halves every half-life after publication.
        decay, published = math.log(2) / s.half_life_ms, clock(s, s.publish_ms)
        return [-s.size * math.expm1(-(clock(s, t) - published) * decay) for t in s.ts]
    logs = [math.log(s.size)]
    for (t0, rate), (t1, _) in zip(s.rates, s.rates[1:]):
        logs.append(logs[-1] + rate * (clock(s, t1) - clock(s, t0)))
    out, segment, last = [], 0, len(s.rates) - 1
    for t in s.ts:
        while segment < last and t >= s.rates[segment + 1][0]:
            segment += 1
        t0, rate = s.rates[segment]
        out.append(math.exp(logs[segment] + rate * (clock(s, t) - clock(s, t0))))
    return out


def _true_counts(rng: random.Random, s: _Series) -> list[int]:
    level, ts = _trend(s), s.ts
    for inc in s.incidents:
        k = bisect_left(ts, inc.fault_ms)
        if inc.cause == "purge":
            for i in range(k, len(ts)):
                level[i] *= 1.0 - inc.size
        elif inc.cause in ("attrition", "viral"):
            signed = -inc.size if inc.cause == "attrition" else inc.size
            for i in range(k, len(ts)):
                level[i] *= 1.0 + signed * min(1.0, (ts[i] - inc.fault_ms) / inc.ramp_ms)
    # Mean-reverting noise: small unfollows and catch-ups that never add up to a trend.
    rand, width, noise, counts = rng.random, s.noise * 2 * math.sqrt(3), 0.0, []
    for value in level:
        noise = _NOISE_MEMORY * noise + (rand() - 0.5) * width
        counts.append(int(value * (1.0 + noise)))
    for inc in s.incidents:
        if inc.cause == "removal":
            k = bisect_left(ts, inc.fault_ms)
            counts[k:] = [0] * (len(ts) - k)
    return counts


def _measure_level_change(s: _Series, inc: _Incident, shown: list[int]) -> None:
    ts, k = s.ts, bisect_left(s.ts, inc.fault_ms)
    if k == 0 or k >= len(ts):
        inc.applied = False
        return
    inc.onset_ms, pre = ts[k], shown[k - 1]
    if inc.cause == "removal":
        low = 0
    elif inc.cause == "purge":
        low = min(shown[k:k + 5])
    elif inc.cause == "attrition":
        low = min(shown[k:bisect_left(ts, inc.fault_ms + inc.ramp_ms) + 5])
    else:
        low = pre
    inc.drop_pct = round(100 * (pre - low) / pre, 2) if pre > 0 else 0.0


def _apply_display_fault(
    s: _Series, inc: _Incident, true: list[int], shown: list[int], displayed: list[int]
) -> bool:
    """Show wrong values from fault to until; refused (False) unless every one is a clear drop."""
    ts = s.ts
    k, j = bisect_left(ts, inc.fault_ms), bisect_left(ts, inc.until_ms or 0)
    if k == 0 or j <= k or j >= len(ts):
        return False
    if inc.cause == "glitch_zero":
        wrong = [0] * (j - k)
    elif inc.cause == "glitch_stale":
        wrong = [shown[bisect_right(ts, ts[i] - inc.lag_ms) - 1] for i in range(k, j)]
    else:
        wrong = [int(true[i] * (1.0 - inc.size)) for i in range(k, j)]
        wrong = [_three_digits(v) for v in wrong] if s.platform == "youtube" else wrong
    pre = shown[k - 1]
    if pre - max(wrong) < max(_MIN_DROP_COUNT, _MIN_DROP_FRACTION * pre):
        return False
    displayed[k:j] = wrong
    inc.onset_ms, inc.end_ms = ts[k], ts[j]
    inc.drop_pct = round(100 * (pre - min(wrong)) / pre, 2)
    return True


def _place_glitches(rng: random.Random, spec: SimulationSpec, s: _Series, true: list[int], shown: list[int],
                    displayed: list[int]) -> None:
    """Candidates at glitches_per_day, spaced by the separation; a weak or blocked one is no incident."""
    ts = s.ts
    if spec.glitches_per_day <= 0 or len(ts) < 2:
        return
    mean_gap_ms = DAY_MS / spec.glitches_per_day
    lo = max(spec.start_ms + _WARMUP_MS, ts[0] + 20 * MINUTE_MS)
    hi = min(spec.end_ms - _TAIL_MS, ts[-1])
    t = lo + rng.random() * mean_gap_ms
    while t < hi:
        _try_glitch(rng, s, int(t), true, shown, displayed)
        t += _SEPARATION_MS + _GLITCH_MAX_MS + rng.expovariate(1 / max(1.0, mean_gap_ms - _SEPARATION_MS))


def _try_glitch(rng: random.Random, s: _Series, t: int, true: list[int], shown: list[int],
                displayed: list[int]) -> None:
    ts, k = s.ts, bisect_left(s.ts, t)
    polls = rng.choices(_GLITCH_POLLS, _GLITCH_POLL_WEIGHTS)[0]
    # The last correct poll is recent and the first correct one within 12 minutes: a clean glitch.
    if k < 1 or k + polls >= len(ts) or ts[k] - ts[k - 1] > 2 * MINUTE_MS:
        return
    if ts[k + polls] - ts[k] > _GLITCH_MAX_MS or not _is_free(s, ts[k], ts[k + polls]):
        return
    first = rng.choices(_GLITCH_KINDS, _GLITCH_KIND_WEIGHTS)[0]
    # A stale value is only a drop on a series that grew meanwhile; elsewhere another kind is shown.
    fallback = "glitch_pct" if rng.random() < 0.65 else "glitch_zero"
    size, lag_ms = rng.uniform(0.03, 0.6), rng.randint(5, 15) * MINUTE_MS
    for cause in dict.fromkeys((first, fallback)):
        inc = _Incident(cause, ts[k], ts[k + polls], size=size, lag_ms=lag_ms)
        if _apply_display_fault(s, inc, true, shown, displayed):
            _book(s, inc, ts[k], ts[k + polls])
            return


def _place_broad_glitches(extra: random.Random, spec: SimulationSpec, s: _Series, true: list[int],
                          shown: list[int], displayed: list[int]) -> None:
    """Broad mix: glitches of every length on the series' own cadence, labelled by the hold.

    A fault whose wrong polls all fall inside the hold on this cadence is a glitch; one that shows
    a wrong value after it is a long glitch (a page that recovers). Lengths just under and just
    over the hold are drawn on purpose; a fault too close to the boundary for jitter to settle it
    is not placed.
    """
    ts = s.ts
    if spec.glitches_per_day <= 0 or len(ts) < 2:
        return
    mean_gap_ms = DAY_MS / spec.glitches_per_day
    lo = max(spec.start_ms + _WARMUP_MS, ts[0] + 20 * MINUTE_MS + 3 * s.poll_ms)
    hi = min(spec.end_ms - _TAIL_MS, ts[-1])
    t = lo + extra.random() * mean_gap_ms
    while t < hi:
        end = _try_broad_glitch(extra, spec, s, int(t), true, shown, displayed)
        t = max(t, end) + _SEPARATION_MS + extra.expovariate(1 / max(1.0, mean_gap_ms - _SEPARATION_MS))


def _glitch_polls(extra: random.Random, s: _Series, ts: list[int], k: int) -> int:
    """How many polls from index k show a wrong value: within the hold, just under or over it, or hours."""
    inside = hold_polls(s.poll_ms, _DEFAULTS)
    kind = extra.choices(_GLITCH_CLASSES, _GLITCH_CLASS_WEIGHTS)[0]
    if kind == "short":
        polls = min(inside, 1 + int(extra.expovariate(1 / max(0.5, inside / 4))))
    elif kind == "under":
        polls = inside
    elif kind == "over":
        polls = inside + 1
    else:
        until = ts[k] + int(extra.uniform(40, 240) * MINUTE_MS)
        polls = bisect_left(ts, until, k) - k
    return polls


#: A detector learns a series' cadence to within a few %; labels hold for any cadence this close.
_CADENCE_TOLERANCE = 0.05


def _glitch_label(s: _Series, ts: list[int], k: int, polls: int) -> str | None:
    """"glitch" when the last wrong poll lies clearly inside the hold on this cadence, "glitch_long"
    when clearly after it, None when too close to tell (whatever the cadence within a few %).

    The hold on a cadence ends midway between the last poll inside it and the deciding poll
    (`streams.engine.cadence`); the first observation after it decides.
    """
    side = side_of_hold(ts[k], ts[k + polls - 1], s.poll_ms, _CADENCE_TOLERANCE, _DEFAULTS)
    return None if side is None else {"inside": "glitch", "outside": "glitch_long"}[side]


def _try_broad_glitch(extra: random.Random, spec: SimulationSpec, s: _Series, t: int, true: list[int],
                      shown: list[int], displayed: list[int]) -> int:
    ts, k = s.ts, bisect_left(s.ts, t)
    if k < 1 or k >= len(ts):
        return t
    polls = _glitch_polls(extra, s, ts, k)
    # The last correct poll is recent (no gap before the glitch) and the run holds the end.
    if polls < 1 or k + polls >= len(ts) or ts[k] - ts[k - 1] > 2 * s.poll_ms:
        return t
    label = _glitch_label(s, ts, k, polls)
    if label is None:
        return t
    if ts[k + polls] >= spec.end_ms - 35 * MINUTE_MS or not _is_free(s, ts[k], ts[k + polls] + _DISPLAY_MARGIN_MS):
        return t
    first = "glitch_pct" if label == "glitch_long" and extra.random() < 0.7 else \
        extra.choices(_GLITCH_KINDS, _GLITCH_KIND_WEIGHTS)[0]
    fallback = "glitch_pct" if extra.random() < 0.65 else "glitch_zero"
    size, lag_ms = extra.uniform(0.03, 0.6), extra.randint(5, 15) * MINUTE_MS
    for cause in dict.fromkeys((first, fallback)):
        inc = _Incident(cause, ts[k], ts[k + polls], size=size, lag_ms=lag_ms)
        if _apply_display_fault(s, inc, true, shown, displayed):
            inc.cause = cause if label == "glitch" else "glitch_long"
            _book(s, inc, ts[k], ts[k + polls] + _DISPLAY_MARGIN_MS)
            return ts[k + polls]
    return t


# --- lines, arrival order, malformed lines, truth -----------------------------------------------------


def _emit(
    rng: random.Random, rendered: list[tuple[_Series, list[int]]], extra: random.Random | None = None
) -> tuple[list[bytes], list[int]]:
    """Each displayed value as one JSON line, with the time it reaches the consumer."""
    # A per-series orjson prefix, not a dict per line: those dicts cost half the run in allocation and GC.
    rand = rng.random
    stamps: dict[int, bytes] = {}
    lines: list[bytes] = []
    arrivals: list[int] = []
    for s, displayed in rendered:
        held_from, times = len(arrivals), []
        head: dict[str, object] = {"platform": s.platform, "account": s.account, "metric": s.metric}
        if not s.omit_post:
            head["post"] = s.post
        prefix = orjson.dumps(head)[:-1] + b',"value":'
        for t, value in zip(s.ts, displayed):
            form = rand()
            if form < _EPOCH_MS_SHARE:
                stamp = b"%d" % t
            elif form < _EPOCH_MS_SHARE + _EPOCH_S_SHARE:
                stamp = b"%d" % (t // 1000)
            elif (stamp := stamps.get(t)) is None:
                stamp = stamps[t] = orjson.dumps(format_time(t))
            line = b'%s%d,"ts":%s}' % (prefix, value, stamp)
            # Most updates arrive within 3 s; a few are held back 1-4 minutes by a slow poller.
            delay = rand()
            late = delay < _LATE_SHARE
            arrival = t + (60_000 + int(delay / _LATE_SHARE * 180_000) if late else int(delay * 3000))
            lines.append(line)
            arrivals.append(arrival)
            times.append(t)
            if rand() < _DUPLICATE_SHARE:
                lines.append(line)
                arrivals.append(arrival + 500 + int(rand() * 30_000))
                times.append(t)
        if extra is not None:
            _hold_batches(extra, times, arrivals, held_from)
    return lines, arrivals


def _hold_batches(extra: random.Random, times: list[int], arrivals: list[int], first: int) -> None:
    """Broad mix: now and then a poller holds a run of one series' polls and sends them at once,
    the oldest no more than a few minutes late (within the detector's lateness allowance).

    `times` are the event times of the series' lines, which start at `first` in `arrivals`."""
    count, index = len(times), 0
    while index < count:
        if extra.random() < _BATCH_START:
            release = times[index] + int(extra.uniform(0.3, 1.0) * _BATCH_MAX_DELAY_MS)
            while index < count and times[index] <= release:
                arrivals[first + index] = max(arrivals[first + index], release)
                index += 1
        else:
            index += 1


def _mix_in_malformed(rng: random.Random, lines: list[bytes], count: int) -> tuple[list[bytes], list[dict]]:
    """Spread count bad lines through the stream; return all lines and the bad ones' 1-based numbers."""
    if count == 0:
        return lines, []
    hints = list(_MALFORMED_HINTS)
    rng.shuffle(hints)
    out: list[bytes] = []
    malformed: list[dict] = []
    taken = 0
    for i in range(count):
        position = min(len(lines), int((i + rng.uniform(0.2, 0.8)) * len(lines) / count))
        out.extend(lines[taken:position])
        taken = position
        neighbour = orjson.loads(lines[position - 1]) if position else {
            "platform": "x", "account": "acct0000", "metric": "followers", "value": 100, "ts": 0}
        out.append(_malformed_line(rng, hints[i % len(hints)], neighbour))
        malformed.append({"line": len(out), "reason_hint": hints[i % len(hints)]})
    out.extend(lines[taken:])
    return out, malformed


def _malformed_line(rng: random.Random, hint: str, update: dict) -> bytes:
    value = update["value"]
    if hint == "not_json":
        raw = orjson.dumps(update)
        return raw[: len(raw) // 2]  # cut mid-object, as a torn write leaves it
    if hint == "not_object":
        return orjson.dumps([value])  # one element: one reject whether or not arrays are read as batches
    if hint == "missing_field":
        del update[rng.choice(("value", "ts", "account"))]
    elif hint == "negative_value":
        update["value"] = -max(1, value)
    elif hint == "bad_value":
        update["value"] = f"{value / 1000:.1f}K"
    elif hint == "bad_time":
        update["ts"] = rng.choice(("2026-13-45T99:00:00Z", "yesterday", "20/11/2026 12:00"))
    else:
        update["value"] = 0
        return orjson.dumps(update).replace(b'"value":0', b'"value":NaN', 1)
    return orjson.dumps(update)


def _truth(spec: SimulationSpec, world: list[_Series], groups: list[_PlatformIncident], updates: int,
           malformed: list[dict]) -> dict:
    live = [g for g in groups if any(m.applied for m in g.members)]
    live.sort(key=lambda g: min(m.onset_ms for m in g.members if m.applied))
    for number, group in enumerate(live, 1):
        group.id = f"p{number:02d}"
    found = [(inc.onset_ms, s.key, inc, s) for s in world for inc in s.incidents if inc.applied]
    found.sort(key=lambda row: row[:2])
    return {
        "spec": _spec_dict(spec),
        "series": len(world),
        "updates": updates,
        "malformed": malformed,
        "incidents": [_incident_row(f"s{n:04d}", s, inc) for n, (_, _, inc, s) in enumerate(found, 1)],
        "platform_incidents": [_platform_row(g, world) for g in live],
        "series_poll_ms": {s.key: s.poll_ms for s in world},
    }


def _spec_dict(spec: SimulationSpec) -> dict:
    """The documented spec fields, plus any incident rate a test changed from its default."""
    out: dict[str, object] = {
        "seed": spec.seed, "accounts": spec.accounts, "hours": float(spec.hours), "start_ms": spec.start_ms,
        "poll_ms": spec.poll_ms, "malformed_lines": spec.malformed_lines}
    out.update({f.name: getattr(spec, f.name) for f in fields(spec)
                if f.name not in out and getattr(spec, f.name) != f.default})
    return out


def _incident_row(incident_id: str, s: _Series, inc: _Incident) -> dict:
    return {
        "id": incident_id, "series": s.key, "platform": s.platform, "account": s.account, "metric": s.metric,
        "post": s.post, "cause": inc.cause, "expect": _EXPECT[inc.cause], "onset_ms": inc.onset_ms,
        "end_ms": inc.end_ms, "recovers": inc.end_ms is not None, "drop_pct": inc.drop_pct,
        "platform_incident": inc.group.id if inc.group is not None else None,
        "poll_ms": s.poll_ms,
    }


def _platform_row(group: _PlatformIncident, world: list[_Series]) -> dict:
    members = [m for m in group.members if m.applied]
    recovers = group.cause != "purge"
    return {
        "id": group.id, "platform": group.platform, "metric": group.metric, "cause": group.cause,
        "expect": "glitch" if group.cause == "glitch" else "page",
        "onset_ms": min(m.onset_ms for m in members),
        "end_ms": max(m.end_ms or 0 for m in members) if recovers else None,
        "recovers": recovers, "affected": len(members),
        "of": len(_members(world, group.platform, group.metric)),
    }
