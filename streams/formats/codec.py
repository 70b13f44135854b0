"""Bytes to Update or Rejected(reason), and anomaly events to JSON: the only place formats live."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Annotated

import msgspec
import msgspec.structs
import orjson

from streams.engine.types import AnomalyEvent, Update

#: The closed set of reasons a record is rejected for; each is counted and sent to the dead letters.
REJECT_REASONS = (
    "not_json",
    "not_object",
    "missing_field",
    "bad_type",
    "bad_value",
    "bad_time",
)

_REQUIRED = ("platform", "account", "metric", "value", "ts")
_EPOCH_MS_ABOVE = 1e11  # the contract: a number above this is epoch milliseconds
_TS_CACHE_LIMIT = 262_144  # pollers stamp whole batches alike, so a small cache saves most parses
# Times a count can have been observed at. Outside them a time is a bug (a poller's clock, a unit
# mix-up): one such update would move its partition's watermark decades and decide every open hold,
# and past year 9999 it cannot even be formatted, so it is rejected as `bad_time` at the edge.
EARLIEST_TS_MS = 946_684_800_000  # 2000-01-01T00:00:00Z
LATEST_TS_MS = 4_102_444_800_000  # 2100-01-01T00:00:00Z
_TIME_RANGE_TEXT = "2000-01-01 and 2100-01-01"


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record that is not a valid update, with why; `raw` is kept so nothing is lost."""

    reason: str
    detail: str
    raw: bytes


_ts_cache: dict[str | float, int] = {}
_CACHEABLE_TIME_TYPES = (str, float)  # exact types: True equals 1.0 as a dict key, and is no time
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_MS = timedelta(milliseconds=1)


def parse_time_ms(ts: object) -> int | None:
    """Event time in epoch ms from RFC 3339 text, epoch seconds or epoch ms; None when unusable.

    >>> parse_time_ms("2026-11-20T12:00:00Z")
    1795176000000
    >>> parse_time_ms(1795694400), parse_time_ms(1795176000000)
    (1795694400000, 1795176000000)
    >>> parse_time_ms("2026-11-20 noon") is None, parse_time_ms("2026-11-20T12:00:00") is None
    (True, True)
    >>> parse_time_ms(1e30) is None, parse_time_ms("1999-12-31T23:59:59Z") is None
    (True, True)
    """
    if type(ts) is int:  # epoch seconds or ms: converted faster than cached
        return _epoch_number_ms(ts) if ts > 0 else None
    cacheable = type(ts) in _CACHEABLE_TIME_TYPES
    if cacheable:
        cached = _ts_cache.get(ts)
        if cached is not None:
            return cached
    ms = _uncached_time_ms(ts)
    if ms is not None and cacheable:
        if len(_ts_cache) >= _TS_CACHE_LIMIT:
            _ts_cache.clear()
        _ts_cache[ts] = ms
    return ms


def _uncached_time_ms(ts: object) -> int | None:
    if isinstance(ts, str):
        try:
            parsed = datetime.fromisoformat(ts)
        except ValueError:
            return None
        if parsed.tzinfo is None:  # RFC 3339 requires an offset; guessing one would shift events
            return None
        try:
            ms = (parsed - _EPOCH) // _ONE_MS  # exact: float seconds would round some milliseconds
        except OverflowError:  # year 1 with a large offset
            return None
        return ms if EARLIEST_TS_MS <= ms < LATEST_TS_MS else None
    if isinstance(ts, (int, float)) and not isinstance(ts, bool) and math.isfinite(ts) and ts > 0:
        return _epoch_number_ms(ts)
    return None


def _epoch_number_ms(ts: float) -> int | None:
    ms = int(ts) if ts > _EPOCH_MS_ABOVE else int(ts * 1000)
    return ms if EARLIEST_TS_MS <= ms < LATEST_TS_MS else None


def update_from_object(obj: object, raw: bytes) -> Update | Rejected:
    """Validate one decoded JSON value as an update."""
    if not isinstance(obj, dict):
        return Rejected("not_object", f"expected a JSON object, got {type(obj).__name__}", raw)
    try:
        platform, account, metric = obj["platform"], obj["account"], obj["metric"]
        value, ts = obj["value"], obj["ts"]
    except KeyError as missing:
        return Rejected("missing_field", f"missing field {missing.args[0]!r}", raw)
    post = obj.get("post")
    if not (type(platform) is str and type(account) is str and type(metric) is str):
        return Rejected("bad_type", "platform, account and metric must be strings", raw)
    if not (platform and account and metric):
        return Rejected("bad_value", "platform, account and metric must not be empty", raw)
    if post is not None and type(post) is not str:
        return Rejected("bad_type", "post must be a string or null", raw)
    if type(value) is not int and type(value) is not float:
        return Rejected("bad_type", f"value must be a number, got {type(value).__name__}", raw)
    if not (value >= 0 and math.isfinite(value)):
        return Rejected("bad_value", f"value must be a finite number >= 0, got {value!r}", raw)
    ts_ms = parse_time_ms(ts)
    if ts_ms is None:
        return Rejected("bad_time", f"unusable ts {str(ts)[:40]!r}: expected RFC 3339 with an offset, or epoch "
                                    f"seconds or ms, between {_TIME_RANGE_TEXT}", raw)  # fmt: skip
    return Update(platform, account, metric, post, float(value), ts_ms)


_Name = Annotated[str, msgspec.Meta(min_length=1)]


class _WireUpdate(msgspec.Struct, gc=False):
    """The contract's update as msgspec decodes and type-checks it in C: the fast path."""

    platform: _Name
    account: _Name
    metric: _Name
    value: Annotated[float, msgspec.Meta(ge=0)]
    ts: str | int | float
    post: str | None = None


_decode_wire = msgspec.json.Decoder(_WireUpdate).decode
_decode_wire_batch = msgspec.json.Decoder(list[_WireUpdate]).decode


def _from_wire(wire: _WireUpdate, raw: bytes | None) -> Update | Rejected:
    """Checks msgspec cannot express; `raw` None means re-encode the element (batch messages)."""
    updates = _updates_from_wires((wire,))
    if updates is not None:
        return updates[0]
    # The general checks name the reason: the same messages, from one place.
    return update_from_object(msgspec.structs.asdict(wire), raw or msgspec.json.encode(wire))


def _updates_from_wires(wires: Iterable[_WireUpdate]) -> list[Update] | None:
    """Updates from type-checked records; None when any fails a check msgspec cannot express
    (an unusable time): the caller then asks `update_from_object` for the reason.

    The hot loop of decoding, once per update: hence the locals and the inlined time cache.
    """
    updates: list[Update] = []
    append, cached_time_ms, new_tuple = updates.append, _ts_cache.get, tuple.__new__
    for wire in wires:
        platform, account, metric, post, ts = wire.platform, wire.account, wire.metric, wire.post, wire.ts
        ts_ms = cached_time_ms(ts)
        if ts_ms is None:
            ts_ms = parse_time_ms(ts)
            if ts_ms is None:
                return None
        key = f"{platform}/{account}/{metric}" if post is None else f"{platform}/{account}/{metric}/{post}"
        # Update's fields in order, built without its Python-level __new__.
        append(new_tuple(Update, (platform, account, metric, post, wire.value, ts_ms, key)))
    return updates


def decode_line(raw: bytes) -> Update | Rejected:
    """One JSON Lines record (or one Kafka message holding a single object).

    >>> decode_line(b'{"platform":"x","account":"a","metric":"likes","value":5,"ts":1795176000}')
    Update('x/a/likes', value=5.0, ts_ms=1795176000000)
    >>> decode_line(b'{"platform":"x"').reason
    'not_json'
    """
    try:
        wire = _decode_wire(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return _decode_slowly(raw)
    return _from_wire(wire, raw)


def decode_lines(lines: list[bytes]) -> tuple[list[Update], list[Rejected]]:
    """JSON Lines records (without their newlines): the updates and the rejects, as `decode_line`
    gives them one by one; blank lines carry no record and are skipped.

    All lines are decoded as one JSON array while each is one valid update, which saves most
    of the per-line work; otherwise line by line. Joined by commas, a record cannot span lines
    (a comma fits no whitespace inside a value) and one line with two records would make the
    count differ, so equal counts mean each line is one record.

    >>> good = b'{"platform":"x","account":"a","metric":"m","value":1,"ts":1795176000}'
    >>> updates, rejects = decode_lines([good, b"", b"{"])
    >>> [u.key for u in updates], [r.reason for r in rejects]
    (['x/a/m'], ['not_json'])
    """
    try:
        wires = _decode_wire_batch(b"[%b]" % b",".join(lines))  # one copy fewer than concatenating
    except (msgspec.ValidationError, msgspec.DecodeError):
        wires = None
    if wires is not None and len(wires) == len(lines):
        updates = _updates_from_wires(wires)
        if updates is not None:
            return updates, []
    updates, rejects = [], []
    for raw in lines:
        record = decode_line(raw)
        if type(record) is Update:
            updates.append(record)
        elif raw.strip():
            rejects.append(record)
    return updates, rejects


def _decode_slowly(raw: bytes) -> Update | Rejected:
    """The general path, for records the fast path refused: it names the precise reason."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        return Rejected("not_json", f"not JSON: {str(error)[:60]}", raw)
    return update_from_object(obj, raw)


def decode_message(raw: bytes) -> list[Update | Rejected]:
    """A Kafka message value: one update object or a JSON array of them, each checked on its own.

    >>> [type(r).__name__ for r in decode_message(b'[{"x":1}, 3]')]
    ['Rejected', 'Rejected']
    """
    if raw.lstrip()[:1] != b"[":
        return [decode_line(raw)]
    try:
        wires = _decode_wire_batch(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        pass  # a bad element, or not JSON: the general path names each reason
    else:
        updates = _updates_from_wires(wires)  # the whole array in one loop: the worker's hot path
        return updates if updates is not None else [_from_wire(wire, None) for wire in wires]  # type: ignore[return-value]
    try:
        items = orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        return [Rejected("not_json", f"not JSON: {str(error)[:60]}", raw)]
    return [update_from_object(item, orjson.dumps(item)) for item in items]


def format_time(ms: int) -> str:
    """RFC 3339 UTC with a Z, seconds precision unless milliseconds are present.

    >>> format_time(1795176000000), format_time(1795176000250)
    ('2026-11-20T12:00:00Z', '2026-11-20T12:00:00.250Z')
    """
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    if ms % 1000:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def event_to_dict(event: AnomalyEvent) -> dict[str, object]:
    """The contract's output object, plus the optional `id` and `incident` used for de-duplication."""
    return {
        "kind": event.kind.value,
        "scope": event.scope.value,
        "platform": event.platform,
        "account": event.account,
        "metric": event.metric,
        "post": event.post,
        "onset": format_time(event.onset_ms),
        "decided": format_time(event.decided_ms),
        "baseline": event.baseline,
        "low": event.low,
        "drop": round(event.drop, 6),
        "drop_pct": round(event.drop_pct, 3),
        "cause": event.cause.value,
        "affected": event.affected,
        "of": event.of,
        "message": event.message,
        "evidence": None if event.evidence is None else event.evidence.value,
        "id": event.event_id,
        "incident": event.incident_id,
    }


def encode_event(event: AnomalyEvent) -> bytes:
    """One JSON line (without newline) for an anomaly event."""
    return orjson.dumps(event_to_dict(event))


def encode_rejected(rejected: Rejected) -> bytes:
    """A dead-letter record: the reason and the raw input, so the record can be fixed and re-sent."""
    return orjson.dumps(
        {
            "reason": rejected.reason,
            "detail": rejected.detail,
            "raw": rejected.raw.decode("utf-8", errors="replace"),
        }
    )
