"""Invariants of the engine over generated streams (hypothesis)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.engine import AnomalyEvent, Detector, DetectorConfig, Kind, Scope, Update
from tests.engine import scenarios
from tests.engine.scenarios import MINUTE, T0, updates

CONFIG = DetectorConfig()

# A series as a list of segments: (minutes, level change in % at the start, growth per minute).
segments = st.lists(
    st.tuples(
        st.integers(min_value=1, max_value=90),
        st.sampled_from([0.0, 0.0, -3.0, -10.0, -100.0, 5.0, 50.0]),
        st.integers(min_value=0, max_value=20),
    ),
    min_size=1,
    max_size=8,
)


def build(shape: list[tuple[int, float, int]], key: str, base: float) -> list[tuple[float, float]]:
    rows, value, minute = [], base, 0
    for minutes, change_pct, per_min in shape:
        value = max(0.0, value * (1 + change_pct / 100.0)) if change_pct > -100 else 0.0
        for _ in range(minutes):
            rows.append((minute, round(value)))
            value += per_min
            minute += 1
    return rows


@st.composite
def streams(draw: st.DrawFn) -> list[Update]:
    count = draw(st.integers(min_value=1, max_value=4))
    items: list[Update] = []
    for i in range(count):
        shape = draw(segments)
        base = draw(st.sampled_from([800.0, 12_000.0, 1_500_000.0]))
        items += updates(build(shape, f"x/acct{i}/followers", base), key=f"x/acct{i}/followers")
    return sorted(items, key=lambda u: (u.ts_ms, u.key))


def run(items: list[Update], batch: int | None = None) -> list[AnomalyEvent]:
    return sorted(scenarios.run(items, CONFIG, batch), key=AnomalyEvent.sort_key)


def late_and_duplicated(items: list[Update], seed: int) -> list[Update]:
    """Deliver each update up to 4 minutes late (within the 5-minute allowance), some twice."""
    rng = random.Random(seed)
    arrivals = []
    for index, update in enumerate(items):
        delay = rng.choice([0, 0, 0, 30_000, 120_000, 240_000])
        arrivals.append((update.ts_ms + delay, index, update))
        if rng.random() < 0.05:
            arrivals.append((update.ts_ms + delay + 1, index, update))
    return [u for _, _, u in sorted(arrivals, key=lambda a: (a[0], a[1]))]


@settings(max_examples=60, deadline=None)
@given(streams(), st.integers(min_value=0, max_value=2**16))
def test_late_duplicated_and_reordered_updates_change_nothing(items: list[Update], seed: int) -> None:
    assert run(late_and_duplicated(items, seed)) == run(items)


@settings(max_examples=60, deadline=None)
@given(streams(), st.integers(min_value=1, max_value=50))
def test_batches_of_any_size_give_the_same_events(items: list[Update], batch: int) -> None:
    assert run(items, batch) == run(items)


@settings(max_examples=30, deadline=None)
@given(streams())
def test_a_lazy_batch_is_taken_like_a_list(items: list[Update]) -> None:
    listed, lazy = Detector(CONFIG), Detector(CONFIG)
    from_list = listed.observe_many(items) + listed.flush()
    from_iterator = lazy.observe_many(iter(items)) + lazy.flush()
    assert from_iterator == from_list and lazy.counts == listed.counts


@settings(max_examples=80, deadline=None)
@given(streams())
def test_every_page_is_a_real_drop_and_pages_alternate_with_recoveries(items: list[Update]) -> None:
    open_pages: dict[str, AnomalyEvent] = {}
    for event in run(items):
        if event.scope is not Scope.SERIES:
            continue
        if event.kind in (Kind.SUSTAINED_DROP, Kind.GLITCH):
            # No page (or glitch) without a drop of at least the configured size.
            assert event.drop >= CONFIG.min_drop_abs
            assert event.drop_pct >= CONFIG.min_drop_pct - 1e-9
        if event.kind is Kind.SUSTAINED_DROP:
            previous = open_pages.get(event.series)
            # A second page needs a new incident: a new drop after the first page was decided
            # (the first is then settled), never the same incident again.
            assert previous is None or event.onset_ms > previous.decided_ms, "a repeated page"
            open_pages[event.series] = event
        elif event.kind is Kind.RECOVERY:
            page = open_pages.pop(event.series, None)
            assert page is not None, "a recovery without an open page"
            assert page.onset_ms == event.onset_ms and event.decided_ms >= page.decided_ms


@settings(max_examples=40, deadline=None)
@given(streams())
def test_decisions_come_after_their_onset_and_hold(items: list[Update]) -> None:
    for event in run(items):
        assert event.decided_ms >= event.onset_ms
        if event.kind is Kind.SUSTAINED_DROP and event.scope is Scope.SERIES:
            assert event.decided_ms - event.onset_ms >= CONFIG.hold_ms - CONFIG.hold_backdate_max_ms


def test_detector_does_not_mutate_its_input() -> None:
    items = updates([(m, 1_000 + m) for m in range(30)] + [(30, 0), (31, 0)])
    before = [(u.key, u.value, u.ts_ms) for u in items]
    run(items)
    assert [(u.key, u.value, u.ts_ms) for u in items] == before


def test_silent_series_decides_on_advance_alone() -> None:
    detector = Detector(CONFIG)
    detector.observe_many(updates([(m, 5_000 + m) for m in range(30)] + [(30, 0)]))
    events = detector.advance(T0 + 70 * MINUTE)
    assert [e.kind for e in events] == [Kind.SUSTAINED_DROP]


@settings(max_examples=80, deadline=None)
@given(streams())
def test_step_many_equals_step_one_by_one(items: list[Update]) -> None:
    from streams.engine.series import SeriesState, step, step_many

    by_key: dict[str, list[tuple[int, float]]] = {}
    for update in items:
        by_key.setdefault(update.key, []).append((update.ts_ms, update.value))
    for key, rows in by_key.items():
        one, many = SeriesState(key, "x", "a", "m", None), SeriesState(key, "x", "a", "m", None)
        singles = [o for o in (step(one, ts, v, CONFIG) for ts, v in rows) if o is not None]
        batched = step_many(many, rows, CONFIG)
        assert [repr(o) for o in batched] == [repr(o) for o in singles]
        for name in SeriesState.__slots__:
            if name != "growth":
                assert getattr(one, name) == getattr(many, name), name
