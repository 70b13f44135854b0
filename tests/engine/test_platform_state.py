"""The platform stage's state survives a move: export, encode, decode, import, carry on."""

from __future__ import annotations

import zlib

from streams.engine import AnomalyEvent, Detector, DetectorConfig
from streams.engine.platform import PlatformAggregator
from streams.state import decode_platform_state, encode_platform_state
from tests.engine.test_platform import fleet, outage_shape, purge_shape


def _run(items, move_at: int | None) -> list[AnomalyEvent]:
    """Two partitions feeding one aggregator; at batch `move_at` it is rebuilt from its bytes."""
    config = DetectorConfig()
    sources = ("p0", "p1")
    aggregator = PlatformAggregator(config, sources=sources)
    partitions = {name: Detector(config, platforms=None) for name in sources}
    found: list[AnomalyEvent] = []
    for index, start in enumerate(range(0, len(items), 97)):
        if index == move_at:
            state, offset = decode_platform_state(encode_platform_state(aggregator.export_state(), index))
            assert offset == index
            aggregator = PlatformAggregator(config, sources=sources)
            aggregator.import_state(state)
        for name, detector in partitions.items():
            chunk = [u for u in items[start : start + 97] if (zlib.crc32(u.key.encode()) % 2 == 0) == (name == "p0")]
            detector.observe_many(chunk)
            for delta in detector.take_platform_deltas():
                aggregator.add(delta)
            found += aggregator.advance(detector.watermark_ms, source=name)
    for name, detector in partitions.items():
        detector.flush()
        for delta in detector.take_platform_deltas():
            aggregator.add(delta)
        found += aggregator.advance(detector.watermark_ms, source=name)
    return sorted(found, key=AnomalyEvent.sort_key)


def test_an_aggregator_rebuilt_from_its_bytes_mid_incident_finds_what_the_original_finds() -> None:
    items = sorted(fleet(10, outage_shape) + fleet(8, purge_shape, platform="x"), key=lambda u: u.ts_ms)
    uninterrupted = _run(items, move_at=None)
    assert len(uninterrupted) == 3  # a purge, an outage and its recovery
    batches = (len(items) + 96) // 97
    for move_at in range(1, batches):  # every point of the stream, mid-incident ones included
        assert _run(items, move_at) == uninterrupted, f"moved at batch {move_at} of {batches}"


def test_an_empty_aggregator_state_round_trips() -> None:
    aggregator = PlatformAggregator(DetectorConfig(), sources=("0",))
    rebuilt = PlatformAggregator(DetectorConfig(), sources=("0",))
    rebuilt.import_state(aggregator.export_state())
    assert rebuilt.export_state() == aggregator.export_state() == {"marks": {}, "tracks": []}
