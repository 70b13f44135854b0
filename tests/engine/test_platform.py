"""Platform incidents: many series of one platform and metric at once become one event."""

from __future__ import annotations

import zlib

from streams.engine import AnomalyEvent, Detector, DetectorConfig, Kind, Scope, Update
from streams.engine.platform import PlatformAggregator
from tests.engine.scenarios import MINUTE, T0, growing, minute_of, run, updates


def fleet(count: int, shape, platform: str = "instagram", first: int = 0) -> list[Update]:
    """`count` accounts of one platform, named from acct`first` on; `shape(i)` gives account i's
    (minute, value) rows."""
    items: list[Update] = []
    for i in range(first, first + count):
        items += updates(shape(i), key=f"{platform}/acct{i}/followers")
    return sorted(items, key=lambda u: (u.ts_ms, u.key))


def outage_shape(i: int):
    base = 10_000 + 1_000 * i
    rows = growing(0, 120, base, 1)
    return rows + [(m, round(base * 0.8)) for m in range(120, 200)] + growing(200, 300, base + 200, 1)


def purge_shape(i: int):
    base = 10_000 + 1_000 * i
    return growing(0, 120, base, 1) + growing(120 + i % 3, 300, round(base * 0.96), 1)


def glitch_shape(i: int):
    base = 10_000 + 1_000 * i
    return growing(0, 120, base, 1) + [(120, 0), (121, 0)] + growing(122, 200, base + 122, 1)


def platform_events(events):
    return [e for e in events if e.scope is Scope.PLATFORM]


def test_platform_wide_purge_is_one_platform_page_with_affected_and_of() -> None:
    items = fleet(12, purge_shape) + updates(growing(0, 300, 5_000, 1), "instagram/quiet/followers")
    events = run(items)
    platform = platform_events(events)
    assert [(e.kind, e.cause.value) for e in platform] == [(Kind.SUSTAINED_DROP, "purge")]
    assert platform[0].affected == 12 and platform[0].of == 13
    assert platform[0].account is None and platform[0].post is None
    assert minute_of(platform[0].onset_ms) == 120
    assert sum(1 for e in events if e.scope is Scope.SERIES and e.kind is Kind.SUSTAINED_DROP) == 12


def test_platform_outage_that_comes_back_pages_then_recovers_once() -> None:
    events = platform_events(run(fleet(10, outage_shape)))
    assert [e.kind for e in events] == [Kind.SUSTAINED_DROP, Kind.RECOVERY]
    # The restore at minute 200 is confirmed by the next poll (a burst would still be climbing).
    assert minute_of(events[1].decided_ms) == 201


def test_platform_glitch_is_a_platform_glitch_not_a_page() -> None:
    events = platform_events(run(fleet(10, glitch_shape)))
    assert [e.kind for e in events] == [Kind.GLITCH]


def test_a_few_series_dropping_together_is_not_a_platform_incident() -> None:
    items = fleet(3, purge_shape) + fleet(20, lambda i: growing(0, 300, 7_000 + i, 1), "x")
    assert platform_events(run(items)) == []


def test_enough_series_dropping_together_but_a_small_share_of_the_platform_is_not_a_platform_incident() -> None:
    # 6 instagram series drop together (over platform_min_series) among 25 quiet instagram ones:
    # 6 of 31 active is under platform_min_fraction, so the share rule alone says no.
    quiet = fleet(25, lambda i: growing(0, 300, 7_000 + i, 1), first=6)
    items = sorted(fleet(6, purge_shape) + quiet, key=lambda u: (u.ts_ms, u.key))
    assert platform_events(run(items)) == []


def forward(detector: Detector, aggregator: PlatformAggregator, source: str) -> list[AnomalyEvent]:
    """Hand a partition's platform deltas to the aggregator, then its watermark as `source`'s."""
    for delta in detector.take_platform_deltas():
        aggregator.add(delta)
    return aggregator.advance(detector.watermark_ms, source=source)


def merged_platform_events(items, rebuild_at: int | None = None, rebuild=None) -> list[AnomalyEvent]:
    """Two partitions' detectors feed one aggregator, interleaved batch by batch (97 updates); before
    batch `rebuild_at` the aggregator is replaced by `rebuild(aggregator)`."""
    config = DetectorConfig()
    aggregator = PlatformAggregator(config, sources=("p0", "p1"))
    partitions = {"p0": Detector(config, platforms=None), "p1": Detector(config, platforms=None)}
    merged = []
    for index, start in enumerate(range(0, len(items), 97)):
        if index == rebuild_at:
            aggregator = rebuild(aggregator)
        for name, detector in partitions.items():
            chunk = [u for u in items[start : start + 97] if (zlib.crc32(u.key.encode()) % 2 == 0) == (name == "p0")]
            detector.observe_many(chunk)
            merged += forward(detector, aggregator, name)
    for name, detector in partitions.items():
        detector.flush()
        merged += forward(detector, aggregator, name)
    return sorted(merged, key=AnomalyEvent.sort_key)


def test_two_partitions_merged_find_the_same_platform_incidents_as_one() -> None:
    items = sorted(fleet(10, outage_shape) + fleet(8, purge_shape, platform="x"), key=lambda u: u.ts_ms)
    single = platform_events(run(items))
    assert len(single) == 3
    assert merged_platform_events(items) == sorted(single, key=AnomalyEvent.sort_key)


def test_platform_decision_waits_for_the_slowest_partition() -> None:
    config = DetectorConfig()
    aggregator = PlatformAggregator(config, sources=("p0", "p1"))
    detector = Detector(config, platforms=None)
    detector.observe_many(fleet(10, purge_shape))
    detector.flush()
    # Everything is in from p0 (its watermark is past the decision), but p1 has said nothing: no decision yet.
    assert forward(detector, aggregator, "p0") == []
    assert [e.kind for e in aggregator.advance(T0 + 600 * MINUTE, source="p1")] == [Kind.SUSTAINED_DROP]


def test_a_series_counts_as_active_once_per_hour_it_reports_in_whatever_the_batches() -> None:
    rows = growing(0, 60, 1_000, 1) + growing(75, 130, 1_100, 1) + growing(250, 260, 1_200, 1)
    first_of_each_hour = ((0, 0), (1, 75), (2, 120), (4, 250))  # (hour, minute)
    hours_seen = [(T0 + hour * 60 * MINUTE, T0 + minute * MINUTE) for hour, minute in first_of_each_hour]
    for batch in (1, 7, 1_000):
        detector, items = Detector(DetectorConfig(), platforms=None), updates(rows)
        for start in range(0, len(items), batch):
            detector.observe_many(items[start : start + batch])
        detector.flush()
        active = [(d.bucket_ms, d.at_ms) for d in detector.take_platform_deltas() if d.kind == "active"]
        assert active == hours_seen, batch
