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
