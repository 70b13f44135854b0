"""When each series is next due: the Detector's schedule on event time."""

from __future__ import annotations

from collections.abc import Iterator
from heapq import heappop, heappush


class DueTimes:
    """Series keys by the event time they fall due at, taken in (time, key) order.

    A heap of distinct times, each with the keys due then: pollers stamp whole batches alike,
    so many series share a time, and a heap of plain ints is cheaper to keep than one of
    (time, key) tuples (measured: popping those was a twentieth of a replay).

    >>> due = DueTimes()
    >>> for ms, key in [(20, "b"), (10, "z"), (20, "a"), (30, "c")]:
    ...     due.add(ms, key)
    >>> list(due.take_until(20)), list(due.take_until(99))
    ([(10, 'z'), (20, 'a'), (20, 'b')], [(30, 'c')])
    """

    __slots__ = ("_times", "_keys_at")

    def __init__(self) -> None:
        self._times: list[int] = []
        self._keys_at: dict[int, list[str]] = {}

    def add(self, ms: int, key: str) -> None:
        keys = self._keys_at.get(ms)
        if keys is None:
            self._keys_at[ms] = [key]
            heappush(self._times, ms)
        else:
            keys.append(key)

    def take_until(self, watermark: int) -> Iterator[tuple[int, str]]:
        """Remove and yield what is due at or before `watermark`, earliest first."""
        times, keys_at = self._times, self._keys_at
        while times and times[0] <= watermark:
            ms = heappop(times)
            for key in sorted(keys_at.pop(ms)):
                yield ms, key
