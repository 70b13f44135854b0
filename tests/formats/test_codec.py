"""The codec: every contract form decodes, every bad record is a reason, nothing raises."""

from __future__ import annotations

import json
import math

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.formats import codec

from streams.formats.codec import (
    REJECT_REASONS,
    Rejected,
    decode_line,
    decode_lines,
    decode_message,
    encode_event,
    encode_rejected,
    format_time,
    parse_time_ms,
)
from streams.engine import AnomalyEvent, Cause, Kind, Scope, Update

GOOD = {"platform": "tiktok", "account": "a1", "metric": "likes", "post": "v9", "value": 12, "ts": "2026-11-20T12:00:00Z"}


def line(**changes: object) -> bytes:
    record = {**GOOD, **changes}
    return orjson.dumps({k: v for k, v in record.items() if v is not ...})


GOOD_LINE = line()


@pytest.mark.parametrize(
    "ts", ["2026-11-20T12:00:00Z", "2026-11-20T13:00:00+01:00", 1795176000, 1795176000.0, 1795176000000]
)
def test_every_time_form_of_the_contract_gives_the_same_instant(ts: object) -> None:
    update = decode_line(line(ts=ts))
    assert isinstance(update, Update) and update.ts_ms == 1795176000000


def test_post_absent_or_null_is_account_level() -> None:
    assert decode_line(line(post=...)).key == "tiktok/a1/likes"  # type: ignore[union-attr]
    assert decode_line(line(post=None)).key == "tiktok/a1/likes"  # type: ignore[union-attr]
    assert decode_line(line()).key == "tiktok/a1/likes/v9"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"{not json", "not_json"),
        (b"[1, 2]", "not_object"),
        (b'"text"', "not_object"),
        (line(metric=...), "missing_field"),
        (line(value="12"), "bad_type"),
        (line(value=True), "bad_type"),
        (line(account=7), "bad_type"),
        (line(post=3), "bad_type"),
        (line(value=-1), "bad_value"),
        (line(platform=""), "bad_value"),
        (b'{"platform":"x","account":"a","metric":"m","value":NaN,"ts":1}', "not_json"),
        (b'{"platform":"x","account":"a","metric":"m","value":1e999,"ts":1795176000}', "not_json"),
        (line(ts="yesterday"), "bad_time"),
        (line(ts="2026-11-20T12:00:00"), "bad_time"),
        (line(ts=-5), "bad_time"),
    ],
)
def test_bad_records_are_rejected_with_their_reason(raw: bytes, reason: str) -> None:
    result = decode_line(raw)
    assert isinstance(result, Rejected)
    assert result.reason == reason and result.reason in REJECT_REASONS
    assert result.raw == raw  # the raw record is kept for the dead letters


def test_a_batch_message_checks_each_element_on_its_own() -> None:
    results = decode_message(orjson.dumps([GOOD, {"platform": "x"}, GOOD]))
    assert [type(r).__name__ for r in results] == ["Update", "Rejected", "Update"]


def test_a_batch_message_of_good_updates_decodes_as_its_elements_do_one_by_one() -> None:
    elements = [GOOD, {**GOOD, "post": "p1", "ts": 1795176000}, {**GOOD, "ts": 1795176000123.0, "value": 0}]
    by_message = decode_message(orjson.dumps(elements))
    assert by_message == [decode_line(orjson.dumps(element)) for element in elements]
    assert all(type(r) is Update for r in by_message)


@given(st.binary(max_size=200))
def test_codec_never_raises_on_arbitrary_bytes(raw: bytes) -> None:
    assert isinstance(decode_line(raw), (Update, Rejected))
    assert all(isinstance(r, (Update, Rejected)) for r in decode_message(raw))


@given(st.integers(min_value=1_000_000_000_000, max_value=4_000_000_000_000))
def test_time_formatting_round_trips(ms: int) -> None:
    assert parse_time_ms(format_time(ms)) == ms


def test_event_json_follows_the_contract() -> None:
    event = AnomalyEvent(
        Kind.SUSTAINED_DROP, Scope.SERIES, "x", "acme", "followers", None,
        1795176000000, 1795176900000, 1000.0, 950.0, Cause.PURGE, "x/acme/followers fell",
    )  # fmt: skip
    out = orjson.loads(encode_event(event))
    assert out["onset"] == "2026-11-20T12:00:00Z" and out["decided"] == "2026-11-20T12:15:00Z"
    assert out["drop"] == 50.0 and math.isclose(out["drop_pct"], 5.0)
    assert {"kind", "scope", "platform", "account", "metric", "post", "baseline", "low", "cause",
            "affected", "of", "message"} <= set(out)  # fmt: skip
    assert out["id"] == "x/acme/followers@1795176000000:sustained_drop"


def test_dead_letter_keeps_reason_and_raw_text() -> None:
    rejected = decode_line(b"\xff\xfe oops")
    assert isinstance(rejected, Rejected)
    record = orjson.loads(encode_rejected(rejected))
    assert record["reason"] == "not_json" and "oops" in record["raw"]


def test_a_rejected_batch_element_keeps_only_its_own_record() -> None:
    results = decode_message(orjson.dumps([GOOD, {**GOOD, "ts": "soon"}]))
    assert isinstance(results[1], Rejected) and results[1].reason == "bad_time"
    assert orjson.loads(results[1].raw)["ts"] == "soon"


@given(st.integers(min_value=-(2**53), max_value=2**53))
def test_an_integer_time_is_the_same_instant_as_that_float(seconds_or_ms: int) -> None:
    assert parse_time_ms(seconds_or_ms) == parse_time_ms(float(seconds_or_ms))


def test_a_bool_is_no_time_even_when_its_number_is_cached() -> None:
    assert parse_time_ms(1795176000.0) == parse_time_ms(1795176000) == 1795176000000
    assert parse_time_ms(True) is None


@pytest.mark.parametrize(
    "ts", [1e30, -1e30, 10**30, 2**63, 4102444800, 4102444800000, 946684799, "1999-12-31T23:59:59Z",
           "2100-01-01T00:00:00Z", "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+23:59", 1.0, 1],
)  # fmt: skip
def test_a_time_outside_2000_to_2100_is_rejected_as_bad_time_by_every_decoder(ts: object) -> None:
    raw = json.dumps({**GOOD, "ts": ts}).encode()  # json, not orjson: it writes integers past 64 bits
    for record in [decode_line(raw), *decode_message(raw), *decode_message(b"[" + raw + b"]")]:
        assert isinstance(record, Rejected), ts
        assert record.reason == "bad_time", (ts, record)
    updates, rejects = decode_lines([raw, GOOD_LINE])
    assert [u.ts_ms for u in updates] == [1795176000000] and len(rejects) == 1


def test_the_edges_of_the_time_range_are_kept() -> None:
    assert parse_time_ms("2000-01-01T00:00:00Z") == codec.EARLIEST_TS_MS
    assert parse_time_ms("2099-12-31T23:59:59.999Z") == codec.LATEST_TS_MS - 1
    assert parse_time_ms(946684800) == parse_time_ms(946684800000) == codec.EARLIEST_TS_MS


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=4,
)
_field_values = _json_values | st.floats() | st.integers(min_value=-(2**70), max_value=2**70) | st.sampled_from(
    ["2026-11-20T12:00:00Z", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "2026-13-01T00:00:00Z", ""])


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(["platform", "account", "metric", "post", "value", "ts", "extra"]),
                       _field_values, max_size=7), st.booleans())  # fmt: skip
def test_no_json_value_in_any_field_makes_a_decoder_raise(record: dict, as_batch: bool) -> None:
    raw = json.dumps([record, GOOD] if as_batch else record).encode()  # json: big ints, NaN, Infinity too
    for result in [decode_line(raw), *decode_message(raw), *decode_lines([raw, GOOD_LINE])[0],
                   *decode_lines([raw, GOOD_LINE])[1]]:  # fmt: skip
        assert isinstance(result, (Update, Rejected))
        if isinstance(result, Update):  # whatever is accepted can be placed in time and formatted
            assert codec.EARLIEST_TS_MS <= result.ts_ms < codec.LATEST_TS_MS
            assert parse_time_ms(format_time(result.ts_ms)) == result.ts_ms
            assert result.value >= 0 and math.isfinite(result.value)


_good_records = st.fixed_dictionaries(
    {
        "platform": st.sampled_from(["x", "tiktok"]),
        "account": st.sampled_from(["a1", "a2"]),
        "metric": st.sampled_from(["likes", "followers"]),
        "value": st.one_of(st.integers(0, 10**6), st.floats(0, 1e6)),
        "ts": st.sampled_from(
            ["2026-11-20T12:00:00Z", "2026-11-20T13:00:01+01:00", 1795176000, 1795176000.5, 1795176000000]
        ),
    },
    optional={"post": st.one_of(st.none(), st.just("p1"))},
)
_any_records = st.fixed_dictionaries(
    {
        "platform": st.sampled_from(["x", ""]),
        "account": st.sampled_from(["a1", 7]),
        "metric": st.just("likes"),
        "value": st.one_of(st.integers(-2, 10**6), st.floats(0, 1e6), st.just("12")),
        "ts": st.sampled_from(["2026-11-20T12:00:00Z", "2026-11-20T12:00:00", "soon", 1795176000, -5, True]),
    },
    optional={"post": st.one_of(st.none(), st.just("p1"), st.just(3))},
)
# Between records: a line break, a blank or whitespace line, two records on one line, a bracket.
_any_separators = st.sampled_from([b"\r\n", b"\n\n", b"\n \n", b",", b" ", b"\n[\n", b"\n]\n"])
_FLAWS = ("separator", "record", "spread", "tail")


@st.composite
def _json_lines(draw: st.DrawFn) -> list[bytes]:
    """Good JSON Lines with a few flaws: every way a file goes wrong within, between or across
    lines (a pretty-printed record spans several)."""
    records = [orjson.dumps(r) for r in draw(st.lists(_good_records, min_size=1, max_size=12))]
    separators = [b""] + [b"\n"] * (len(records) - 1)  # separators[i] comes before records[i]
    tail = b""
    for flaw in draw(st.lists(st.sampled_from(_FLAWS), max_size=2)):
        at = draw(st.integers(0, len(records) - 1))
        if flaw == "separator":
            separators[at] = draw(_any_separators)
        elif flaw == "record":
            records[at] = orjson.dumps(draw(_any_records))
        elif flaw == "spread":
            records[at] = json.dumps(orjson.loads(records[at]), indent=1).encode()
        else:
            tail = draw(st.sampled_from([b"\n", b"{", b"}", b"]", b"\xff"]))
    text = b"".join(separator + record for separator, record in zip(separators, records))
    return (text + tail).split(b"\n")


def assert_decoded_as_each_line(lines: list[bytes]) -> None:
    one_by_one = [decode_line(raw) for raw in lines]
    updates, rejects = decode_lines(lines)
    assert updates == [record for record in one_by_one if isinstance(record, Update)]
    assert rejects == [r for r, raw in zip(one_by_one, lines) if isinstance(r, Rejected) and raw.strip()]


@settings(max_examples=300)
@given(_json_lines())
def test_decoding_lines_at_once_equals_decoding_each_line(lines: list[bytes]) -> None:
    assert_decoded_as_each_line(lines)


@pytest.mark.parametrize(
    "text",
    [
        GOOD_LINE + b"," + GOOD_LINE + b"\n" + GOOD_LINE,  # two records on a line, comma-separated
        GOOD_LINE + b" " + GOOD_LINE + b"\n" + GOOD_LINE,
        json.dumps(GOOD, indent=1).encode() + b"\n" + GOOD_LINE,  # one record across lines
        GOOD_LINE + b"\n\n" + GOOD_LINE,
        GOOD_LINE + b"\n \n" + GOOD_LINE,
        GOOD_LINE + b"\r\n" + GOOD_LINE + b"\r\n",
        b"[\n" + GOOD_LINE + b"\n]",
        # a record across two lines beside two on one: as many records as lines
        b'{"platform": "x",\n "account": "a1", "metric": "likes", "value": 1, "ts": 1795176000}\n'
        + GOOD_LINE + b" " + GOOD_LINE,
        GOOD_LINE + b"\n" + line(platform=""),
        GOOD_LINE + b"\n" + line(metric=""),
        GOOD_LINE + b"\n" + line(ts="soon"),
        GOOD_LINE + b"\n" + line(ts=-5),
    ],
)
def test_decoding_lines_at_once_equals_decoding_each_line_on_each_flaw(text: bytes) -> None:
    assert_decoded_as_each_line(text.split(b"\n"))


def test_clean_lines_are_decoded_all_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    def one_by_one(raw: bytes) -> None:
        raise AssertionError("decoded line by line")

    monkeypatch.setattr(codec, "decode_line", one_by_one)
    lines = [line(), line(post=None, ts=1795176000), line(account="a2", value=3.5)]
    updates, rejects = decode_lines(lines)
    assert [u.key for u in updates] == ["tiktok/a1/likes/v9", "tiktok/a1/likes", "tiktok/a2/likes/v9"]
    assert rejects == []
