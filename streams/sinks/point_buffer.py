"""A bounded buffer of points in write-sized chunks: a sink that cannot write keeps its newest points.

Chunks let a writer take the oldest batch, write it, and hand it back on failure without copying the
rest; dropping the oldest chunk when the buffer is full is one `popleft`. While a chunk is being
written it is out of the deque, so a drop made meanwhile cannot remove the wrong points.
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

Item = TypeVar("Item")


class PointBuffer(Generic[Item]):
    """At most `limit` items, oldest first, in chunks of `chunk_size`; full means the oldest go."""

    def __init__(self, limit: int, chunk_size: int) -> None:
        self.limit, self.chunk_size = limit, min(chunk_size, limit)
        self._chunks: deque[list[Item]] = deque()
        self._held = 0  # items in `_chunks`
        self._in_flight = 0  # items taken and neither done nor given back
        self._owed = 0  # of those, how many to drop if they come back: they were the oldest when full
        self.dropped = 0  # items dropped, over the buffer's life

    def __len__(self) -> int:
        return self._held + self._in_flight - self._owed

    def add(self, item: Item) -> None:
        chunks = self._chunks
        if not chunks or len(chunks[-1]) >= self.chunk_size:
            chunks.append([])
        chunks[-1].append(item)
        self._held += 1
        excess = len(self) - self.limit
        if excess <= 0:
            return
        # The chunk being written is the oldest: it pays first, when it comes back.
        charged = min(excess, self._in_flight - self._owed)
        self._owed += charged
        excess -= charged
        while excess > 0:
            oldest = chunks[0]
            # A whole older chunk at once (cheap); from the newest chunk only what must go.
            cut = len(oldest) if len(chunks) > 1 else excess
            del oldest[:cut]
            if not oldest:
                chunks.popleft()
            self._held -= cut
            self.dropped += cut
            excess -= cut

    def take(self) -> list[Item] | None:
        """The oldest chunk, out of the buffer until `done` or `give_back`; None when empty."""
        if not self._chunks:
            return None
        chunk = self._chunks.popleft()
        self._held -= len(chunk)
        self._in_flight += len(chunk)
        return chunk

    def done(self, chunk: list[Item]) -> None:
        """`chunk` was written (all of it: what it owed was not lost after all)."""
        self._in_flight -= len(chunk)
        self._owed = 0

    def give_back(self, chunk: list[Item]) -> None:
        """`chunk` could not be written: it is the oldest again, less what newer points took the room of."""
        self._in_flight -= len(chunk)
        owed, self._owed = self._owed, 0
        self.dropped += owed
        if owed < len(chunk):
            self._chunks.appendleft(chunk[owed:])
            self._held += len(chunk) - owed
