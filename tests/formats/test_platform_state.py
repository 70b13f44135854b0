"""The platform stage's state survives a move: export, encode, decode, import, carry on."""

from __future__ import annotations

from streams.engine import DetectorConfig
from streams.engine.platform import PlatformAggregator
from streams.formats.state import decode_platform_state, encode_platform_state
from tests.engine.test_platform import fleet, merged_platform_events, outage_shape, purge_shape


def rebuilt_from_bytes(aggregator: PlatformAggregator) -> PlatformAggregator:
    """What a worker that takes over a platform partition does with the table's entry."""
    state, offset = decode_platform_state(encode_platform_state(aggregator.export_state(), applied_offset=7))
    assert offset == 7
    rebuilt = PlatformAggregator(DetectorConfig(), sources=("p0", "p1"))
    rebuilt.import_state(state)
    return rebuilt


def test_an_aggregator_rebuilt_from_its_bytes_mid_incident_finds_what_the_original_finds() -> None:
    items = sorted(fleet(10, outage_shape) + fleet(8, purge_shape, platform="x"), key=lambda u: u.ts_ms)
    uninterrupted = merged_platform_events(items)
    assert len(uninterrupted) == 3  # a purge, an outage and its recovery
    batches = (len(items) + 96) // 97
    for rebuild_at in range(1, batches):  # every point of the stream, mid-incident ones included
        moved = merged_platform_events(items, rebuild_at, rebuilt_from_bytes)
        assert moved == uninterrupted, f"rebuilt before batch {rebuild_at} of {batches}"


def test_an_empty_aggregator_state_round_trips() -> None:
    aggregator = PlatformAggregator(DetectorConfig(), sources=("0",))
    rebuilt = PlatformAggregator(DetectorConfig(), sources=("0",))
    rebuilt.import_state(aggregator.export_state())
    assert rebuilt.export_state() == aggregator.export_state() == {"marks": {}, "tracks": []}
