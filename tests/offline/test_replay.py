"""Replay's reading and decoding in chunks and parts: every line once, in order."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.offline import replay as replay_module
from streams.formats.codec import decode_lines
from streams.offline.replay import ReplaySummary, decode_chunk, read_chunks
from tests.formats.test_codec import GOOD_LINE, line

_lines = st.lists(st.sampled_from([GOOD_LINE, line(account="a2", ts=1795176000), b"", b"{", line(value=-1)]))


@given(_lines, st.booleans(), st.integers(1, 300))
def test_chunks_hold_every_line_once(lines: list[bytes], final_newline: bool, chunk_bytes: int) -> None:
    text = b"\n".join(lines) + (b"\n" if final_newline else b"")
    expected = text.split(b"\n")
    if expected[-1] == b"":  # a final newline ends the last line, it starts none
        expected.pop()
    assert [raw for chunk in read_chunks(io.BytesIO(text), chunk_bytes) for raw in chunk] == expected


@given(_lines, st.integers(1, 10))
def test_a_chunk_decoded_in_parts_equals_it_decoded_at_once(lines: list[bytes], part_lines: int) -> None:
    summary = ReplaySummary()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(replay_module, "_DECODE_LINES", part_lines)
        updates = list(decode_chunk(lines, summary, on_reject=None))
    at_once, rejects = decode_lines(lines)
    assert updates == at_once
    assert sorted(summary.rejected.elements()) == sorted(r.reason for r in rejects)
