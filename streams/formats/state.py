"""Engine state <-> versioned bytes for the worker's changelog-backed tables: series and platform stage."""

from __future__ import annotations

import struct
from typing import Any

import orjson

from streams.engine.growth import GrowthWindows
from streams.engine.series import DIP_DEFAULTS, SeriesState

#: First byte of every encoded state; bump it (and keep a decoder for the old one) on any layout change.
#: 2: adds the learned cadence (gap median and spread) and the level the count fell to and sits
#: at since; version 1 is still read.
#: 3: the same fields as 2, but the ring of recent values holds only the values seen so far (up
#: to 16) instead of 16 with placeholders, so a decoder of version 2 must not read it; versions 1
#: and 2 are still read (their placeholders, -1, match no count).
STATE_VERSION = 3

# version, phase, is_slow, ring length, ring_i, has post; lengths of platform, account, metric
_HEADER = struct.Struct("<BBBBBBHHH")
_INT_FIELDS = ("n", "last_ts", "prev_ts", "decline_ts",
               "onset_ms", "hold_until_ms", "epoch", "tail_ts", "due_ms")  # fmt: skip
#: Version 1 also kept the time before a decline began (`decline_prev_ts`, read and dropped).
_INT_FIELDS_V1 = ("n", "last_ts", "prev_ts", "decline_ts", None,
                  "onset_ms", "hold_until_ms", "epoch", "tail_ts", "due_ms")  # fmt: skip
_FLOAT_FIELDS = ("last_value", "peak", "peak_before_jump", "step_mean", "noise",
                 "baseline", "low", "loss", "dip_rate", "gap_ms", "gap_spread", "dip_level", "level", "before_last",
                 "third_last", "restored")  # fmt: skip
_SCALARS = struct.Struct(f"<{len(_INT_FIELDS)}q{len(_FLOAT_FIELDS)}d")
#: Version 1 knew no cadence and no level since the drop.
_FLOAT_FIELDS_V1 = ("last_value", "peak", "peak_before_jump", "step_mean", "noise",
                    "baseline", "low", "loss", "dip_rate")  # fmt: skip
_SCALARS_V1 = struct.Struct(f"<{len(_INT_FIELDS_V1)}q{len(_FLOAT_FIELDS_V1)}d")
_LAYOUTS = {
    1: (_SCALARS_V1, _INT_FIELDS_V1 + _FLOAT_FIELDS_V1),
    2: (_SCALARS, _INT_FIELDS + _FLOAT_FIELDS),
    STATE_VERSION: (_SCALARS, _INT_FIELDS + _FLOAT_FIELDS),
}
#: Fields that live in a series' dip record: set only when not at their default, so a series that
#: never dipped is decoded without one (as a live series is).
_DIP_FIELDS = frozenset(DIP_DEFAULTS)
_GROWTH = struct.Struct("<qdqdqdq")
_PENDING_COUNT = struct.Struct("<I")
_PENDING_ITEM = struct.Struct("<qd")


class StateDecodeError(ValueError):
    """Bytes that are not an encoded series state of a known version (or not of this key)."""


def encode_state(state: SeriesState) -> bytes:
    """Pack a series' state; the strings travel in the table key, only their lengths are stored.

    >>> from streams.engine import Detector, Update
    >>> d = Detector()
    >>> _ = d.observe(Update("x", "acme", "likes", None, 5.0, 60_000))
    >>> state = d.export_series("x/acme/likes")
    >>> decode_state("x/acme/likes", encode_state(state)).pending  # [ts, value, ...]
    [60000, 5.0]
    """
    post = state.post
    header = _HEADER.pack(
        STATE_VERSION, state.phase, state.is_slow, len(state.ring), state.ring_i, post is not None,
        len(state.platform.encode()), len(state.account.encode()), len(state.metric.encode()),
    )  # fmt: skip
    scalars = _SCALARS.pack(
        *[getattr(state, name) for name in _INT_FIELDS],
        *[getattr(state, name) for name in _FLOAT_FIELDS],
    )
    growth = state.growth
    growth_bytes = _GROWTH.pack(
        growth.start_ts, growth.start_value, growth.last_start_ts, growth.gain_last,
        growth.span_last, growth.gain_before, growth.span_before,
    )  # fmt: skip
    ring = struct.pack(f"<{len(state.ring)}d", *state.ring)
    flat = state.pending
    pending = [_PENDING_COUNT.pack(len(flat) // 2)]
    pending.extend(_PENDING_ITEM.pack(ts, value) for ts, value in zip(flat[0::2], flat[1::2]))
    return b"".join((header, scalars, growth_bytes, ring, *pending))


def decode_state(key: str, data: bytes) -> SeriesState:
    """Unpack what `encode_state()` packed for the series `key`; StateDecodeError when it can't."""
    try:
        return _decode(key, data)
    except (struct.error, IndexError, UnicodeError) as error:
        raise StateDecodeError(f"corrupt state for series {key!r}: {error}") from error


def _decode(key: str, data: bytes) -> SeriesState:
    if not data or data[0] not in _LAYOUTS:
        raise StateDecodeError(f"unknown state version {data[:1]!r} for series {key!r}")
    version, phase, is_slow, ring_len, ring_i, has_post, *lengths = _HEADER.unpack_from(data, 0)
    state = SeriesState(key, *_split_key(key, lengths, bool(has_post)))
    offset = _HEADER.size
    scalars, names = _LAYOUTS[version]
    values = scalars.unpack_from(data, offset)
    offset += scalars.size
    for name, value in zip(names, values):
        if name is not None and not (name in _DIP_FIELDS and state.dip is None and value == DIP_DEFAULTS[name]):
            setattr(state, name, value)
    state.phase, state.ring_i = phase, ring_i
    if is_slow:
        state.is_slow = True
    if version == 1:
        _adopt_v1(state)
    offset = _decode_growth(state.growth, data, offset)
    if ring_len:
        state.ring = list(struct.unpack_from(f"<{ring_len}d", data, offset))
    offset += 8 * ring_len
    (count,) = _PENDING_COUNT.unpack_from(data, offset)
    offset += _PENDING_COUNT.size
    if count:
        state.pending = [field for i in range(count) for field in _PENDING_ITEM.unpack_from(data, offset + i * _PENDING_ITEM.size)]
    if offset + count * _PENDING_ITEM.size != len(data):
        raise StateDecodeError(f"trailing or missing bytes in state for series {key!r}")
    return state


def _adopt_v1(state: SeriesState) -> None:
    """A version-1 state knows no cadence: seed it from its last gap. An open dip or page takes
    the level it sits at now (the lowest count of the dip) as the level it fell to."""
    if state.last_ts >= 0 and state.prev_ts >= 0 and state.last_ts > state.prev_ts:
        state.gap_ms = float(state.last_ts - state.prev_ts)
    state.dip_level = state.level = state.low
    state.before_last = state.third_last = state.last_value


def _decode_growth(growth: GrowthWindows, data: bytes, offset: int) -> int:
    (growth.start_ts, growth.start_value, growth.last_start_ts, growth.gain_last,
     growth.span_last, growth.gain_before, growth.span_before) = _GROWTH.unpack_from(data, offset)  # fmt: skip
    return offset + _GROWTH.size


def _split_key(key: str, lengths: list[int], has_post: bool) -> tuple[str, str, str, str | None]:
    """platform, account and metric from the key by their stored byte lengths: an account may hold '/'."""
    raw = key.encode()
    parts, at = [], 0
    for length in lengths:
        parts.append(raw[at : at + length].decode())
        at += length + 1
    post = raw[at:].decode() if has_post else None
    platform, account, metric = parts
    if (post is None and at - 1 != len(raw)) or "/".join([*parts, *([post] if has_post else [])]) != key:
        raise StateDecodeError(f"state does not belong to series {key!r}")
    return platform, account, metric, post


#: First byte of an encoded platform aggregator; the rest is JSON (small, written once per message).
PLATFORM_STATE_VERSION = 1


def encode_platform_state(state: dict[str, Any], applied_offset: int) -> bytes:
    """A second-stage aggregator's state and the offset of the last platform message applied to it.

    >>> data = encode_platform_state({"marks": {"0": 5}, "tracks": []}, applied_offset=41)
    >>> decode_platform_state(data)
    ({'marks': {'0': 5}, 'tracks': []}, 41)
    """
    return bytes([PLATFORM_STATE_VERSION]) + orjson.dumps({"applied_offset": applied_offset, "state": state})


def decode_platform_state(data: bytes) -> tuple[dict[str, Any], int]:
    """What `encode_platform_state()` packed; StateDecodeError when it can't."""
    if not data or data[0] != PLATFORM_STATE_VERSION:
        raise StateDecodeError(f"unknown platform state version {data[:1]!r}")
    try:
        body = orjson.loads(data[1:])
        return body["state"], int(body["applied_offset"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise StateDecodeError(f"corrupt platform state: {error}") from error
