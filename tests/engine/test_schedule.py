"""The Detector's schedule takes series in (time, key) order, as a heap of pairs would."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from streams.engine.schedule import DueTimes

entries = st.lists(st.tuples(st.integers(0, 50), st.sampled_from(["a", "b", "x/c", "x/d"])), max_size=40)


@given(entries, st.lists(st.integers(-1, 60), min_size=1, max_size=4))
def test_due_series_come_out_in_time_then_key_order(
    added: list[tuple[int, str]], watermarks: list[int]
) -> None:
    due, left = DueTimes(), sorted(added)
    for ms, key in added:
        due.add(ms, key)
    for watermark in sorted(watermarks):
        taken = list(due.take_until(watermark))
        assert taken == [entry for entry in left if entry[0] <= watermark]
        left = left[len(taken) :]
