"""A fixed stream replayed event for event against the committed events it gave: any change in a decision shows.

Regenerate after an intended change of decisions (review the diff of the fixture, then commit it):

    python -m tests.offline.test_golden_replay

The input is the simulator's stream for SPEC (fixed start, so the same on any day); its digest is kept
in the fixture's first line, so a changed simulator is told apart from a changed engine.
"""

from __future__ import annotations

import hashlib
import io
import sys
from pathlib import Path

import orjson
import pytest

from streams.formats.codec import decode_line, decode_message, encode_event
from streams.engine import Detector, Update
from streams.offline.replay import read_chunks, replay
from streams.offline.simulate import FIXED_START_MS, SimulationSpec, simulate

SPEC = SimulationSpec(seed=3, accounts=80, hours=12, start_ms=FIXED_START_MS)
GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden_replay.jsonl"
REGENERATE = "python -m tests.offline.test_golden_replay"


def stream() -> list[bytes]:
    return simulate(SPEC).lines


def digest(lines: list[bytes]) -> str:
    return hashlib.sha256(b"\n".join(lines)).hexdigest()


def replayed(lines: list[bytes]) -> list[bytes]:
    """The events of `dipwatch replay` for these lines, as it writes them."""
    events, _ = replay(read_chunks(io.BytesIO(b"\n".join(lines) + b"\n")))
    return [encode_event(event) for event in events]


def golden() -> tuple[dict[str, object], list[bytes]]:
    header, *events = GOLDEN.read_bytes().splitlines()
    return orjson.loads(header), events


@pytest.fixture(scope="module")
def lines() -> list[bytes]:
    return stream()


def assert_same_events(found: list[bytes], expected: list[bytes]) -> None:
    for index, (got, want) in enumerate(zip(found, expected)):
        assert got == want, f"event {index} differs (if intended: {REGENERATE}):\n got  {got!r}\n want {want!r}"
    assert len(found) == len(expected), f"{len(found)} events, {len(expected)} expected (if intended: {REGENERATE})"


def test_the_input_is_the_one_the_events_were_recorded_for(lines: list[bytes]) -> None:
    header, _ = golden()
    assert header["sha256"] == digest(lines), f"the simulator's stream changed: {REGENERATE}"


def test_replay_decides_exactly_the_recorded_events(lines: list[bytes]) -> None:
    _, expected = golden()
    assert len({orjson.loads(e)["kind"] for e in expected}) == 4  # the fixture exercises every kind
    assert_same_events(replayed(lines), expected)


def test_record_by_record_and_batched_decoding_decide_the_same(lines: list[bytes]) -> None:
    """The batch fast path of the codec (replay's, and the worker's JSON arrays) changes nothing:
    one record at a time, and as arrays of 100 as `dipwatch produce --batch 100` sends them."""
    header, expected = golden()
    expected = sorted(expected, key=_order)  # calls of different sizes interleave events differently
    single = Detector()
    events, valid = [], []
    for raw in lines:
        record = decode_line(raw)
        if type(record) is Update:
            valid.append(raw)
            events += single.observe(record)
    assert_same_events(sorted((encode_event(e) for e in events + single.flush()), key=_order), expected)

    batched = Detector()
    events = []
    for start in range(0, len(valid), 100):  # a malformed line would make its whole array not JSON
        records = decode_message(b"[" + b",".join(valid[start : start + 100]) + b"]")
        assert all(type(r) is Update for r in records)
        events += batched.observe_many(records)  # type: ignore[arg-type]
    assert_same_events(sorted((encode_event(e) for e in events + batched.flush()), key=_order), expected)


def _order(line: bytes) -> tuple[object, ...]:
    event = orjson.loads(line)
    return (event["decided"], event["id"])


def write_golden() -> None:
    lines = stream()
    events = replayed(lines)
    header = {"spec": {"seed": SPEC.seed, "accounts": SPEC.accounts, "hours": SPEC.hours, "start_ms": SPEC.start_ms},
              "lines": len(lines), "sha256": digest(lines), "regenerate": REGENERATE}  # fmt: skip
    GOLDEN.parent.mkdir(parents=True, exist_ok=True)
    GOLDEN.write_bytes(b"\n".join([orjson.dumps(header), *events]) + b"\n")
    print(f"wrote {len(events)} events to {GOLDEN}", file=sys.stderr)


if __name__ == "__main__":
    write_golden()
