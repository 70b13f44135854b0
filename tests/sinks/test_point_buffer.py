"""The sinks' bounded buffer: never more than its limit, the newest kept, every drop counted."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.sinks.point_buffer import PointBuffer

# An operation: add n items, or take a chunk and then either write it or hand it back.
operations = st.lists(
    st.one_of(st.tuples(st.just("add"), st.integers(1, 40)), st.sampled_from([("written", 0), ("failed", 0)])),
    max_size=60,
)


@given(operations, st.integers(1, 50), st.integers(1, 20))
def test_every_item_is_written_waiting_or_counted_as_dropped(ops, limit, chunk_size) -> None:
    buffer: PointBuffer[int] = PointBuffer(limit, chunk_size)
    added, written = 0, []
    for op, n in ops:
        if op == "add":
            for _ in range(n):
                buffer.add(added)
                added += 1
        else:
            chunk = buffer.take()
            if chunk is not None:
                if op == "written":
                    buffer.done(chunk)
                    written.extend(chunk)
                else:
                    buffer.give_back(chunk)
        assert len(buffer) <= limit and buffer._held + buffer._in_flight <= limit + chunk_size
    waiting = []
    while (chunk := buffer.take()) is not None:
        buffer.done(chunk)
        waiting.extend(chunk)
    assert len(written) + len(waiting) + buffer.dropped == added
    assert len(set(written) | set(waiting)) == len(written) + len(waiting)  # nothing twice
    assert waiting == sorted(waiting)  # the oldest first


def test_a_full_buffer_drops_its_oldest_chunk() -> None:
    buffer: PointBuffer[int] = PointBuffer(limit=4, chunk_size=2)
    for item in range(5):
        buffer.add(item)
    assert buffer.dropped == 2 and buffer.take() == [2, 3] and buffer.take() == [4]


def test_a_chunk_given_back_is_the_oldest_again_and_keeps_its_newest_when_room_is_short() -> None:
    buffer: PointBuffer[int] = PointBuffer(limit=4, chunk_size=2)
    for item in range(2):
        buffer.add(item)
    chunk = buffer.take()
    for item in range(2, 5):
        buffer.add(item)  # the chunk in flight counts: 5 items, one too many
    assert chunk == [0, 1]
    buffer.give_back(chunk)
    assert buffer.dropped == 1 and buffer.take() == [1] and buffer.take() == [2, 3]
