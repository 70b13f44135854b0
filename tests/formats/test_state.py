"""Encoded series state: exact round trips, restart-anywhere equals uninterrupted, bounded size."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.engine import Detector, DetectorConfig, Update
from streams.formats.state import StateDecodeError, decode_state, encode_state
from tests.engine.scenarios import run
from tests.engine.test_properties import late_and_duplicated, streams

CONFIG = DetectorConfig()


def swap_in_decoded_states(detector: Detector) -> None:
    """Replace every series' live state with its encoded-then-decoded copy, as a restart would."""
    for key in list(detector.touched_keys()):
        state = detector.export_series(key)
        assert state is not None
        data = encode_state(state)
        copy = decode_state(key, data)
        assert encode_state(copy) == data
        detector.import_series(copy)


@settings(max_examples=60, deadline=None)
@given(streams(), st.integers(min_value=1, max_value=40), st.integers(min_value=0, max_value=2**16))
def test_decoded_state_gives_identical_subsequent_events(items: list[Update], every: int, seed: int) -> None:
    arrivals = late_and_duplicated(items, seed)
    assert run(arrivals, CONFIG, every, after_batch=swap_in_decoded_states) == run(arrivals, CONFIG, every)


def test_touched_keys_names_every_series_that_changed() -> None:
    detector = Detector(CONFIG)
    detector.observe_many([Update("x", "a", "likes", None, 1.0, 60_000), Update("x", "b", "likes", "p/1", 2.0, 60_000)])
    assert detector.touched_keys() == {"x/a/likes", "x/b/likes/p/1"}
    assert detector.touched_keys() == set()


def test_account_with_a_slash_round_trips() -> None:
    detector = Detector(CONFIG)
    detector.observe(Update("x", "a/b", "likes", "p/1", 7.0, 60_000))
    state = detector.export_series("x/a/b/likes/p/1")
    assert state is not None
    copy = decode_state(state.key, encode_state(state))
    assert (copy.platform, copy.account, copy.metric, copy.post) == ("x", "a/b", "likes", "p/1")


def test_unknown_version_and_wrong_key_are_refused() -> None:
    detector = Detector(CONFIG)
    detector.observe(Update("x", "a", "likes", None, 7.0, 60_000))
    state = detector.export_series("x/a/likes")
    assert state is not None
    data = encode_state(state)
    with pytest.raises(StateDecodeError):
        decode_state("x/a/likes", b"\x09" + data[1:])
    with pytest.raises(StateDecodeError):
        decode_state("x/ab/likes", data)
    with pytest.raises(StateDecodeError):
        decode_state("x/a/likes", data[:-3])


def test_encoded_state_stays_under_a_kilobyte_after_10k_updates() -> None:
    detector = Detector(CONFIG)
    for minute in range(10_000):
        value = 50_000.0 + 3 * minute - (900.0 if minute % 997 < 30 else 0.0)
        detector.observe(Update("x", "acme", "followers", None, value, minute * 60_000))
    state = detector.export_series("x/acme/followers")
    assert state is not None
    assert len(encode_state(state)) <= 1024


def test_version_1_state_is_still_read_and_learns_its_cadence_from_its_last_gap() -> None:
    import struct

    from streams.formats import state as codec

    detector = Detector(CONFIG)
    for minute in range(30):
        detector.observe(Update("x", "acme", "followers", None, 1000.0 + minute, minute * 60_000))
    live = detector.export_series("x/acme/followers")
    assert live is not None
    data = encode_state(live)
    header, rest = data[: codec._HEADER.size], data[codec._HEADER.size :]
    values = dict(zip(codec._INT_FIELDS + codec._FLOAT_FIELDS, codec._SCALARS.unpack_from(rest, 0)))
    v1_values = [values.get(name, 0) if name else 0 for name in codec._INT_FIELDS_V1 + codec._FLOAT_FIELDS_V1]
    v1 = b"\x01" + header[1:] + codec._SCALARS_V1.pack(*v1_values) + rest[codec._SCALARS.size :]
    old = decode_state("x/acme/followers", v1)
    assert old.gap_ms == live.last_ts - live.prev_ts == 60_000
    assert (old.peak, old.pending, old.n) == (live.peak, live.pending, live.n)
    assert encode_state(old)[0] == codec.STATE_VERSION


def _as_version_2(data: bytes) -> bytes:
    """A version-3 state rewritten as version 2 wrote it: the ring padded to 16 with -1."""
    import struct

    from streams.formats import state as codec

    fields = list(codec._HEADER.unpack_from(data, 0))
    ring_len = fields[3]
    ring_at = codec._HEADER.size + codec._SCALARS.size + codec._GROWTH.size
    ring = list(struct.unpack_from(f"<{ring_len}d", data, ring_at)) + [-1.0] * (16 - ring_len)
    fields[0], fields[3] = 2, 16
    return codec._HEADER.pack(*fields) + data[codec._HEADER.size : ring_at] + struct.pack("<16d", *ring) + data[ring_at + 8 * ring_len :]


@pytest.mark.parametrize("warm_minutes", [2, 9, 40])
def test_version_2_state_is_still_read_and_decides_the_same(warm_minutes: int) -> None:
    """A state saved by version 2 (full ring with placeholders) decides every later update as
    the version-3 state of the same series does: a glitch and a page after the restart."""
    key = "x/acme/followers"
    warm = [Update("x", "acme", "followers", None, 5_000.0 + minute, minute * 60_000) for minute in range(warm_minutes)]
    later = [(5_000.0 + m, m) for m in range(warm_minutes, warm_minutes + 30)]
    later += [(4_000.0, warm_minutes + 30), (5_040.0, warm_minutes + 31)]  # a glitch
    later += [(5_040.0 + m, warm_minutes + 32 + m) for m in range(20)]
    later += [(3_000.0, warm_minutes + 60 + m) for m in range(30)]  # a page
    detector = Detector(CONFIG)
    detector.observe_many(warm)
    detector.advance(warm_minutes * 60_000)
    live = detector.export_series(key)
    assert live is not None
    data = encode_state(live)
    assert data[0] == 3

    def decide(state_bytes: bytes) -> list[tuple[str, int]]:
        restarted = Detector(CONFIG)
        restarted.import_series(decode_state(key, state_bytes))
        events = restarted.observe_many(Update("x", "acme", "followers", None, v, m * 60_000) for v, m in later)
        return [(e.kind.value, e.decided_ms) for e in events + restarted.flush()]

    decided = decide(data)
    assert [kind for kind, _ in decided] == ["glitch", "sustained_drop"]
    assert decide(_as_version_2(data)) == decided
