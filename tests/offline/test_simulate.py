"""The simulator's stream follows the contract and its truth document describes the stream it wrote."""

from __future__ import annotations

import json
import math
import re
from bisect import bisect_left
from collections import Counter, defaultdict
from datetime import datetime

import pytest

from streams.engine.config import HOUR_MS, MINUTE_MS
from streams.engine.types import series_key
from streams.offline.simulate import Simulation, SimulationSpec, simulate, write_simulation

#: Every incident rate raised so a 60-account, 12-hour run holds each kind at least once.
BUSY = SimulationSpec(
    seed=7, accounts=60, hours=12, purge_share=0.2, attrition_share=0.2, reach_share=0.2,
    removal_share=0.25, viral_share=0.1, glitches_per_day=6,
)
ALL_CAUSES = {
    "purge", "removal", "attrition", "glitch_zero", "glitch_pct", "glitch_stale", "outage", "reach", "viral"}
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
ROW_KEYS = ["id", "series", "platform", "account", "metric", "post", "cause", "expect", "onset_ms", "end_ms",
            "recovers", "drop_pct", "platform_incident", "poll_ms"]


def contract_problem(line: bytes) -> str | None:
    """Why the contract rejects this line, or None for a valid update; written from CONTRACT.md alone."""
    try:
        update = json.loads(line)
    except ValueError:
        return "not_json"
    if not isinstance(update, dict):
        return "not_object"
    if any(name not in update for name in ("platform", "account", "metric", "value", "ts")):
        return "missing_field"
    if not all(isinstance(update[name], str) for name in ("platform", "account", "metric")):
        return "bad_field"
    if update.get("post") is not None and not isinstance(update["post"], str):
        return "bad_post"
    value = update["value"]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        return "bad_value"
    ts = update["ts"]
    if isinstance(ts, str):
        try:
            datetime.fromisoformat(ts)
        except ValueError:
            return "bad_time"
    elif isinstance(ts, bool) or not isinstance(ts, (int, float)):
        return "bad_time"
    return None


def ts_ms(ts: str | int) -> int:
    if isinstance(ts, str):
        return int(datetime.fromisoformat(ts).timestamp() * 1000)
    return ts if ts > 1e11 else ts * 1000


def parsed_updates(sim: Simulation) -> list[dict]:
    bad = {row["line"] for row in sim.truth["malformed"]}
    return [json.loads(line) for number, line in enumerate(sim.lines, 1) if number not in bad]


def observations(sim: Simulation) -> dict[str, list[tuple[int, int]]]:
    """Each series' (ts_ms, value) in event-time order, duplicates folded."""
    seen: dict[str, dict[int, int]] = defaultdict(dict)
    for u in parsed_updates(sim):
        seen[series_key(u["platform"], u["account"], u["metric"], u.get("post"))][ts_ms(u["ts"])] = u["value"]
    return {key: sorted(points.items()) for key, points in seen.items()}


def before(points: list[tuple[int, int]], t: int) -> int:
    """The value of the last observation strictly before t."""
    return points[bisect_left(points, (t, -1)) - 1][1]


def between(points: list[tuple[int, int]], lo: int, hi: int) -> list[int]:
    """Values observed in [lo, hi)."""
    return [v for t, v in points[bisect_left(points, (lo, -1)):bisect_left(points, (hi, -1))]]


def at(points: list[tuple[int, int]], t: int) -> int:
    return points[bisect_left(points, (t, -1))][1]


def incidents(sim: Simulation, *causes: str) -> list[dict]:
    return [row for row in sim.truth["incidents"] if row["cause"] in causes]


@pytest.fixture(scope="module")
def busy() -> Simulation:
    return simulate(BUSY)


@pytest.fixture(scope="module")
def busy_points(busy: Simulation) -> dict[str, list[tuple[int, int]]]:
    return observations(busy)


# --- determinism and file output -------------------------------------------------------------------


def test_same_seed_gives_identical_bytes_and_truth(tmp_path):
    spec = SimulationSpec(seed=3, accounts=20, hours=6)
    first, second = simulate(spec), simulate(spec)
    assert first.lines == second.lines and first.truth == second.truth
    a, b = write_simulation(first, tmp_path / "a"), write_simulation(second, tmp_path / "b")
    assert [p.read_bytes() for p in a] == [p.read_bytes() for p in b]


def test_different_seed_gives_a_different_stream():
    assert simulate(SimulationSpec(seed=1, accounts=20, hours=6)).lines != \
        simulate(SimulationSpec(seed=2, accounts=20, hours=6)).lines


def test_write_simulation_writes_both_files_as_given(tmp_path, busy):
    events, truth = write_simulation(busy, tmp_path / "new" / "dir")
    assert (events.name, truth.name) == ("events.jsonl", "truth.json")
    assert events.read_bytes().split(b"\n") == [*busy.lines, b""]
    assert json.loads(truth.read_bytes()) == busy.truth


def test_spec_rejects_unusable_values():
    with pytest.raises(ValueError, match="accounts"):
        SimulationSpec(accounts=0)
    with pytest.raises(ValueError, match="poll_ms"):
        SimulationSpec(poll_ms=60_500)
    with pytest.raises(ValueError, match="purge_share"):
        SimulationSpec(purge_share=1.5)


# --- the stream follows the contract ---------------------------------------------------------------


def test_every_listed_line_is_malformed_and_every_other_line_is_valid(busy):
    rejected = {number for number, line in enumerate(busy.lines, 1) if contract_problem(line) is not None}
    listed = [row["line"] for row in busy.truth["malformed"]]
    assert len(listed) == BUSY.malformed_lines == len(rejected)
    assert set(listed) == rejected
    assert {row["reason_hint"] for row in busy.truth["malformed"]} == {
        "not_json", "not_object", "missing_field", "negative_value", "bad_value", "bad_time", "non_finite"}


def test_malformed_lines_are_spread_through_the_file(busy):
    numbers = [row["line"] for row in busy.truth["malformed"]]
    gaps = [b - a for a, b in zip([0, *numbers], numbers)]
    assert max(gaps) < 2.5 * len(busy.lines) / len(numbers)


def test_updates_carry_the_contract_fields_with_exact_types(busy):
    for u in parsed_updates(busy):
        assert set(u) <= {"platform", "account", "metric", "post", "value", "ts"}
        assert u["platform"] in {"instagram", "tiktok", "x", "youtube"}
        assert type(u["value"]) is int and u["value"] >= 0
        assert (type(u["ts"]) is str and RFC3339.match(u["ts"])) or type(u["ts"]) is int
        if u["metric"] == "followers":
            assert u.get("post") is None
        else:
            assert isinstance(u["post"], str) and u["metric"] in {"likes", "views"}


def test_ts_forms_are_mixed_in_the_stated_shares(busy):
    updates = parsed_updates(busy)
    forms = Counter("rfc3339" if isinstance(u["ts"], str) else "ms" if u["ts"] > 1e11 else "s" for u in updates)
    assert abs(forms["rfc3339"] / len(updates) - 0.85) < 0.02
    assert abs(forms["s"] / len(updates) - 0.10) < 0.01
    assert abs(forms["ms"] / len(updates) - 0.05) < 0.01


def test_account_level_post_is_sometimes_absent_and_sometimes_null(busy):
    followers = [u for u in parsed_updates(busy) if u["metric"] == "followers"]
    assert any("post" not in u for u in followers) and any("post" in u for u in followers)


def test_youtube_shows_three_significant_digits(busy):
    for u in parsed_updates(busy):
        if u["platform"] == "youtube" and u["value"] >= 1000:
            assert u["value"] % 10 ** (len(str(u["value"])) - 3) == 0


def test_polls_are_about_a_minute_apart_with_rare_gaps(busy_points):
    steps = [b - a for points in busy_points.values() for (a, _), (b, _) in zip(points, points[1:])]
    assert all(40_000 <= step for step in steps)
    assert 0.002 < sum(step > 2 * MINUTE_MS for step in steps) / len(steps) < 0.01


def test_some_updates_arrive_late_and_some_twice(busy):
    newest: dict[str, int] = {}
    late = 0
    updates = parsed_updates(busy)
    for u in updates:
        key, t = series_key(u["platform"], u["account"], u["metric"], u.get("post")), ts_ms(u["ts"])
        late += t < newest.get(key, 0) - MINUTE_MS
        newest[key] = max(t, newest.get(key, 0))
    duplicates = len(updates) - len({(u["platform"], u["account"], u["metric"], u.get("post"), ts_ms(u["ts"]))
                                     for u in updates})
    assert 0.005 < late / len(updates) < 0.03
    assert 0.002 < duplicates / len(updates) < 0.01


# --- the truth document ----------------------------------------------------------------------------


def test_truth_counts_match_the_file(busy, busy_points):
    truth = busy.truth
    assert truth["updates"] == len(busy.lines) - len(truth["malformed"])
    assert truth["series"] == len(busy_points)
    rows = Counter(row["platform_incident"] for row in truth["incidents"] if row["platform_incident"])
    for group in truth["platform_incidents"]:
        assert group["affected"] == rows[group["id"]] > 0
        prefix = f"{group['platform']}/"
        assert group["of"] == sum(k.startswith(prefix) and k.split("/")[2] == group["metric"] for k in busy_points)


def test_truth_has_the_documented_shape():
    sim = simulate(SimulationSpec(accounts=8, hours=5))
    assert list(sim.truth) == [
        "spec", "series", "updates", "malformed", "incidents", "platform_incidents", "series_poll_ms"]
    assert list(sim.truth["spec"]) == ["seed", "accounts", "hours", "start_ms", "poll_ms", "malformed_lines"]
    assert sim.truth["spec"]["start_ms"] % HOUR_MS == 0
    assert all(list(row) == ROW_KEYS for row in sim.truth["incidents"])


def test_every_incident_kind_appears(busy):
    assert {row["cause"] for row in busy.truth["incidents"]} == ALL_CAUSES
    assert {g["cause"] for g in busy.truth["platform_incidents"]} == {"purge", "outage", "glitch"}


def test_expect_follows_from_the_cause(busy):
    expect = {"purge": "page", "removal": "page", "attrition": "page", "outage": "page", "reach": "stall",
              "viral": "none", "glitch_zero": "glitch", "glitch_pct": "glitch", "glitch_stale": "glitch"}
    for row in busy.truth["incidents"]:
        assert row["expect"] == expect[row["cause"]]
        assert row["recovers"] == (row["cause"] in {"outage", "glitch_zero", "glitch_pct", "glitch_stale"})
        assert (row["end_ms"] is not None) == row["recovers"]


def test_incidents_of_one_series_are_three_hours_apart(busy):
    by_series = defaultdict(list)
    for row in busy.truth["incidents"]:
        by_series[row["series"]].append(row)
    for rows in by_series.values():
        for a, b in zip(rows, rows[1:]):
            assert b["onset_ms"] - (a["end_ms"] or a["onset_ms"]) >= 3 * HOUR_MS


def test_incidents_leave_the_warm_up_and_the_tail_clean(busy):
    start, end = BUSY.start_ms, BUSY.start_ms + int(BUSY.hours * HOUR_MS)
    for row in busy.truth["incidents"]:
        # Faults start by end - 2 h; the first wrong poll may follow a poll gap of up to 5 minutes.
        assert start + HOUR_MS <= row["onset_ms"] <= end - 2 * HOUR_MS + 7 * MINUTE_MS
        assert row["end_ms"] is None or row["end_ms"] < end


def test_platform_incident_members_start_together(busy):
    spans = {"purge": 3 * MINUTE_MS, "outage": 2 * MINUTE_MS, "glitch": MINUTE_MS}
    for group in busy.truth["platform_incidents"]:
        onsets = [row["onset_ms"] for row in busy.truth["incidents"] if row["platform_incident"] == group["id"]]
        # The first poll after the fault is one poll (plus 10 s jitter) later, or more after a rare gap.
        prompt = [t for t in onsets if t - min(onsets) <= spans[group["cause"]] + 80_000]
        assert len(prompt) >= 0.9 * len(onsets)
        assert max(onsets) - min(onsets) <= spans[group["cause"]] + 7 * MINUTE_MS


# --- each incident does to the values what its label says ------------------------------------------


def test_glitches_drop_clearly_and_come_back_within_12_minutes(busy, busy_points):
    for row in incidents(busy, "glitch_zero", "glitch_pct", "glitch_stale"):
        points = busy_points[row["series"]]
        pre = before(points, row["onset_ms"])
        wrong = between(points, row["onset_ms"], row["end_ms"])
        assert row["end_ms"] - row["onset_ms"] <= 12 * MINUTE_MS
        assert wrong and all(pre - v >= max(25, 0.025 * pre) for v in wrong)
        assert at(points, row["end_ms"]) >= 0.98 * pre
        assert abs(row["drop_pct"] - 100 * (pre - min(wrong)) / pre) < 0.01


def test_glitch_zero_shows_zero_and_stale_shows_an_older_value(busy, busy_points):
    for row in incidents(busy, "glitch_zero"):
        assert set(between(busy_points[row["series"]], row["onset_ms"], row["end_ms"])) == {0}
    for row in incidents(busy, "glitch_stale"):
        points = busy_points[row["series"]]
        wrong = points[bisect_left(points, (row["onset_ms"], -1)):bisect_left(points, (row["end_ms"], -1))]
        # Each wrong poll repeats the value shown 5-15 minutes before it (the poll at or just before then).
        for t, value in wrong:
            assert value in between(points, t - 17 * MINUTE_MS, t - 5 * MINUTE_MS + 1)


def test_outages_hold_the_drop_then_recover(busy, busy_points):
    for row in incidents(busy, "outage"):
        points = busy_points[row["series"]]
        pre = before(points, row["onset_ms"])
        assert row["end_ms"] - row["onset_ms"] >= 38 * MINUTE_MS
        assert all(v <= 0.975 * pre for v in between(points, row["onset_ms"], row["end_ms"]))
        assert at(points, row["end_ms"]) >= 0.98 * pre


def test_purge_stays_down_for_the_next_hour(busy, busy_points):
    for row in incidents(busy, "purge"):
        points = busy_points[row["series"]]
        pre = before(points, row["onset_ms"])
        after = between(points, row["onset_ms"], row["onset_ms"] + HOUR_MS)
        # Platform purges may be as small as 1.5 %: below the series threshold, caught as a group.
        limit = 0.999 if row["platform_incident"] else 0.98
        assert after and all(v <= limit * pre for v in after)


def test_removal_goes_to_exactly_zero_and_sometimes_stops_reporting(busy, busy_points):
    end = BUSY.start_ms + int(BUSY.hours * HOUR_MS)
    stopped = 0
    for row in incidents(busy, "removal"):
        points = busy_points[row["series"]]
        assert before(points, row["onset_ms"]) >= 25
        assert set(v for t, v in points if t >= row["onset_ms"]) == {0}
        if points[-1][0] < end - HOUR_MS:
            stopped += 1
            assert 2 <= len(between(points, row["onset_ms"], end)) <= 5
    assert 0 < stopped < len(incidents(busy, "removal"))


def test_attrition_bleeds_in_small_steps(busy, busy_points):
    for row in incidents(busy, "attrition"):
        points = busy_points[row["series"]]
        pre = before(points, row["onset_ms"])
        bleed = between(points, row["onset_ms"], row["onset_ms"] + 6 * HOUR_MS)
        assert row["drop_pct"] >= 2.5 and min(bleed) <= pre * (1 - (row["drop_pct"] - 0.01) / 100)
        assert all(b >= 0.99 * a for a, b in zip(bleed, bleed[1:]))


def test_reach_growth_collapses_without_loss(busy, busy_points):
    for row in incidents(busy, "reach"):
        points, onset = busy_points[row["series"]], row["onset_ms"]
        early, mid, late = at(points, onset - 2 * HOUR_MS), before(points, onset), at(points, onset + 2 * HOUR_MS)
        assert mid - early >= 0.02 * early
        assert late - mid < 0.2 * (mid - early)
        assert min(between(points, onset, onset + 2 * HOUR_MS)) >= 0.995 * mid


def test_viral_jumps_and_stays_up(busy, busy_points):
    for row in incidents(busy, "viral"):
        points = busy_points[row["series"]]
        pre = before(points, row["onset_ms"])
        assert row["drop_pct"] == 0
        risen = between(points, row["onset_ms"] + 15 * MINUTE_MS, row["onset_ms"] + HOUR_MS)
        assert risen and all(v >= 1.15 * pre for v in risen)


def test_default_rates_give_a_plausible_day():
    sim = simulate(SimulationSpec(seed=5, accounts=40, hours=24))
    truth = sim.truth
    glitches = [r for r in truth["incidents"] if r["cause"].startswith("glitch") and not r["platform_incident"]]
    assert 0.8 <= len(glitches) / truth["series"] <= 2.0
    assert 45 <= truth["updates"] / truth["series"] / 24 <= 62
    assert sum(r["cause"] == "glitch_zero" for r in glitches) < sum(r["cause"] == "glitch_pct" for r in glitches)


# --- the broad mix: streams as hard as real ones -----------------------------------------------------

BROAD = SimulationSpec(seed=4, accounts=80, hours=12, mix="broad", glitches_per_day=6)


@pytest.fixture(scope="module")
def broad() -> Simulation:
    return simulate(BROAD)


def test_broad_mix_polls_each_series_at_its_own_cadence_with_jitter_and_gaps(broad):
    from statistics import median

    points = observations(broad)
    cadences = broad.truth["series_poll_ms"]
    assert set(cadences.values()) == {30_000, 60_000, 120_000, 300_000, 600_000, 900_000}
    missed = total = 0
    for key, rows in points.items():
        gaps = [b - a for (a, _), (b, _) in zip(rows, rows[1:])]
        if len(gaps) < 10:
            continue
        assert abs(median(gaps) - cadences[key]) <= cadences[key] / 6
        assert len(set(gaps)) > 1  # jitter
        missed += sum(g > 1.8 * cadences[key] for g in gaps)
        total += len(gaps)
    assert 0.005 < missed / total < 0.05


def test_broad_mix_glitches_sit_on_both_sides_of_each_cadence_hold(broad):
    from streams.engine.cadence import hold_polls
    from streams.engine.config import DetectorConfig

    points, sides = observations(broad), defaultdict(set)
    for row in incidents(broad, "glitch_zero", "glitch_pct", "glitch_stale", "glitch_long"):
        if row["platform_incident"]:
            continue
        series, cadence = points[row["series"]], row["poll_ms"]
        wrong = series[bisect_left(series, (row["onset_ms"], -1)):bisect_left(series, (row["end_ms"], -1))]
        hold_end = row["onset_ms"] + (hold_polls(cadence, DetectorConfig()) - 0.5) * cadence
        # Labelled by where the last wrong observation falls against the hold on its cadence.
        assert (wrong[-1][0] < hold_end) == (row["expect"] == "glitch")
        assert row["recovers"] and at(series, row["end_ms"]) > 0
        inside = hold_polls(cadence, DetectorConfig())
        sides[cadence].add("under" if len(wrong) == inside else "over" if len(wrong) == inside + 1 else "other")
    assert sum({"under", "over"} <= found for found in sides.values()) >= 4


def test_broad_mix_has_bursts_regrowth_and_late_batches(broad):
    assert len(incidents(broad, "viral")) >= 10
    updates = parsed_updates(broad)
    newest: dict[str, int] = {}
    late = 0
    for u in updates:
        key, t = series_key(u["platform"], u["account"], u["metric"], u.get("post")), ts_ms(u["ts"])
        late += t < newest.get(key, 0)
        newest[key] = max(t, newest.get(key, 0))
    assert late > 0
    # Late batches stay within the detector's lateness allowance: nothing arrives too late.
    from streams.offline.replay import replay

    _, summary = replay([broad.lines])
    assert summary.too_late == 0 and summary.duplicates > 0


def test_minute_mix_stays_the_default_and_rejects_unknown_mixes():
    assert SimulationSpec().mix == "minute"
    with pytest.raises(ValueError, match="mix"):
        SimulationSpec(mix="weekly")
