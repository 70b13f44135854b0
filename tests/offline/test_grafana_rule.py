"""The simulated Grafana rule: last value below 98 % of the hour max, for a pending period."""

from __future__ import annotations

import random

import pytest

from streams.formats.codec import parse_time_ms
from streams.engine.types import Update
from streams.offline.evaluate import score
from streams.offline.grafana_rule import grafana_rule_events

T0 = parse_time_ms("2026-11-20T00:00:00Z")
MIN = 60_000
HOUR = 60 * MIN


def series(values_by_minute: list[tuple[float, float]], account: str = "acct1") -> list[Update]:
    return [Update("x", account, "followers", None, value, T0 + int(m * MIN)) for m, value in values_by_minute]


def minutes(event: dict, field: str) -> float:
    return (parse_time_ms(event[field]) - T0) / MIN


def summary(events: list[dict]) -> list[tuple[str, float, float]]:
    return [(e["kind"], minutes(e, "onset"), minutes(e, "decided")) for e in events]


def dip(start: int, length: int, low: float, until: int = 120) -> list[Update]:
    return series([(m, low if start <= m < start + length else 100.0) for m in range(until)])


def test_three_minute_dip_pages_with_pending_0_but_not_with_pending_5() -> None:
    updates = dip(start=30, length=3, low=90.0)
    assert summary(grafana_rule_events(updates, pending_ms=0)) == [("sustained_drop", 30, 30), ("recovery", 30, 33)]
    assert grafana_rule_events(updates, pending_ms=5 * MIN) == []


def test_sustained_drop_pages_after_pending_15_and_recovers_when_values_come_back() -> None:
    updates = dip(start=60, length=40, low=90.0, until=200)
    events = grafana_rule_events(updates, pending_ms=15 * MIN)
    assert summary(events) == [("sustained_drop", 60, 75), ("recovery", 60, 100)]
    page = events[0]
    assert (page["scope"], page["cause"], page["baseline"], page["low"], page["drop_pct"]) == (
        "series", "unknown", 100.0, 90.0, 10.0,
    )  # fmt: skip


def test_drop_that_stays_down_resolves_once_the_old_max_leaves_the_hour() -> None:
    # The rule's known weakness: the last high point (minute 59) leaves the range at minute 119.
    updates = dip(start=60, length=500, low=90.0, until=300)
    assert summary(grafana_rule_events(updates, pending_ms=15 * MIN)) == [
        ("sustained_drop", 60, 75), ("recovery", 60, 119),
    ]  # fmt: skip


def test_silent_series_keeps_its_last_value_for_an_hour() -> None:
    updates = series([(m, 100.0) for m in range(10)] + [(10, 90.0)])
    assert summary(grafana_rule_events(updates, pending_ms=15 * MIN)) == [
        ("sustained_drop", 10, 25), ("recovery", 10, 69),
    ]  # fmt: skip


def test_slow_one_percent_an_hour_decline_never_pages() -> None:
    # Over the hour range the max is the value 59 min ago, only ~1 % higher: never 2 % below it.
    updates = series([(m, 1000.0 * (1 - 0.01 * m / 60)) for m in range(24 * 60)])
    assert grafana_rule_events(updates, pending_ms=0) == []


def test_three_percent_an_hour_decline_pages_once_it_is_two_percent_below_the_hour_max() -> None:
    # 1000 - 0.5 m < 980 first at m = 41; it then stays ~3 % under the max 59 min earlier. After the
    # last update (m = 359, 820.5) is held, 820.5 >= 0.98 * (1000 - 0.5 (t - 59)) from t = 385 on.
    updates = series([(m, 1000.0 - 0.5 * m) for m in range(6 * 60)])
    assert summary(grafana_rule_events(updates, pending_ms=0)) == [("sustained_drop", 41, 41), ("recovery", 41, 385)]


def test_onset_is_the_first_low_observation_between_evaluations() -> None:
    updates = series([(m / 3, 100.0) for m in range(60)] + [(20 + 1 / 3, 90.0), (20 + 2 / 3, 90.0), (21, 90.0)])
    event = grafana_rule_events(updates, pending_ms=0)[0]
    assert (event["onset"], event["decided"]) == ("2026-11-20T00:20:20Z", "2026-11-20T00:21:00Z")


def test_evaluations_are_aligned_to_the_interval() -> None:
    # Low from 30.5 (evaluated at 31), firing at 36; the last high point (29.5) leaves the range at 89.5.
    updates = series([(m + 0.5, 100.0) for m in range(30)] + [(30.5, 90.0)])
    assert summary(grafana_rule_events(updates, pending_ms=5 * MIN)) == [
        ("sustained_drop", 30.5, 36), ("recovery", 30.5, 90),
    ]  # fmt: skip


def test_input_order_and_duplicates_do_not_matter() -> None:
    updates = dip(start=30, length=20, low=90.0)
    shuffled = updates + updates[::3]
    random.Random(7).shuffle(shuffled)
    assert grafana_rule_events(shuffled, pending_ms=5 * MIN) == grafana_rule_events(updates, pending_ms=5 * MIN)


def test_events_are_ordered_by_decided_then_series() -> None:
    updates = series([(m, 100.0 if m < 40 else 90.0) for m in range(60)], account="b")
    updates += series([(m, 100.0 if m < 30 else 90.0) for m in range(60)], account="c")
    updates += series([(m, 100.0 if m < 40 else 90.0) for m in range(60)], account="a")
    events = grafana_rule_events(updates, pending_ms=0)
    assert [(e["account"], minutes(e, "decided")) for e in events if e["kind"] == "sustained_drop"] == [
        ("c", 30), ("a", 40), ("b", 40),
    ]  # fmt: skip


def test_negative_pending_is_rejected() -> None:
    with pytest.raises(ValueError, match="pending_ms"):
        grafana_rule_events([], pending_ms=-1)


def every_evaluation(points: list[tuple[int, float]], pending_ms: int, interval_ms: int) -> list[tuple[str, int, int]]:
    """The rule evaluated naively at every interval: the reference the fast version must equal."""
    points = sorted(points, key=lambda p: p[0])
    state, since, onset, out = "normal", 0, 0, []
    t = -(-points[0][0] // interval_ms) * interval_ms
    while t < points[-1][0] + HOUR:
        seen = [p for p in points if p[0] <= t]
        in_range = [v for ts, v in seen if ts > t - HOUR]
        is_low = bool(in_range) and seen[-1][1] < 0.98 * max(in_range)
        if not is_low:
            out += [("recovery", onset, t)] if state == "firing" else []
            state = "normal"
        elif state == "normal":
            state, since = "pending", t
            onset = next(ts for ts, v in seen if ts > t - interval_ms and v < 0.98 * max(in_range))
        if is_low and state == "pending" and t - since >= pending_ms:
            state = "firing"
            out.append(("sustained_drop", onset, t))
        t += interval_ms
    return out


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("pending_min", [0, 5, 15])
def test_skipping_quiet_evaluations_equals_evaluating_every_interval(seed: int, pending_min: int) -> None:
    rng = random.Random(seed)
    points, ts, value = [], 0, 1000.0
    for _ in range(300):
        ts += rng.choice([20_000, 60_000, 90_000, 300_000, 45 * MIN, 70 * MIN])
        value = max(0.0, value * rng.choice([1.0, 1.001, 0.99, 0.97, 0.9, 1.1, 1.12]))
        points.append((T0 + ts, value))
    updates = [Update("x", "a", "likes", None, v, t) for t, v in points]
    fast = [(e["kind"], parse_time_ms(e["onset"]), parse_time_ms(e["decided"])) for e in
            grafana_rule_events(updates, pending_ms=pending_min * MIN)]  # fmt: skip
    assert fast == every_evaluation(points, pending_min * MIN, MIN)
    assert fast, "the random walk should trip the rule at least once"


def test_rule_events_score_like_detector_events() -> None:
    updates = dip(start=60, length=40, low=90.0, until=200)
    truth = {"incidents": [{
        "id": "s1", "series": "x/acct1/followers", "platform": "x", "account": "acct1", "metric": "followers",
        "post": None, "cause": "outage", "expect": "page", "onset_ms": T0 + 60 * MIN, "end_ms": T0 + 100 * MIN,
        "recovers": True, "drop_pct": 10.0, "platform_incident": None,
    }], "platform_incidents": []}  # fmt: skip
    scores = score(grafana_rule_events(updates, pending_ms=15 * MIN), truth, detector="grafana P=15")
    assert (scores.page_recall, scores.page_precision, scores.time_to_page_p50_min) == (1.0, 1.0, 15.0)
    assert (scores.false_recoveries, scores.long_glitches_handled) == (0, 1.0)
