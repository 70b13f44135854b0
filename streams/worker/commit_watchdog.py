"""Re-read a partition whose committed offset is stuck behind a hole in Faust's acknowledgements.

Faust commits a partition only up to the first offset that was never acknowledged. A message
fetched just before a rebalance can reach the channel after the rebalance's seek to the committed
offset; Faust then records it as the partition's read position and drops the re-fetched messages
below it as already read. They are never processed nor acknowledged, and the partition's commits
stop there for good (seen after a kill -9, when the group rebalances twice while the dead member
expires). A hole that outlives one check interval is healed by seeking the partition back to its
committed offset: the messages are read again, the detector takes the ones it has already applied
as duplicates, and the acknowledgements close the hole.

It reads two private fields of faust-streaming's Consumer (`_acked`, `_committed_offset`); if a
Faust release renames them, the watchdog says so once and stands down.
"""

from __future__ import annotations

import logging
from typing import Any

from faust.types import TP

log = logging.getLogger(__name__)


class CommitWatchdog:
    """Call `check()` now and then (every few seconds); it seeks partitions that stay stuck."""

    def __init__(self, consumer: Any, topic: str) -> None:
        self.consumer = consumer
        self.topic = topic
        self.suspects: dict[TP, int] = {}  # partition -> committed offset when the hole was first seen
        self.healed = 0
        self.disabled = False

    def holes(self) -> dict[TP, int]:
        """Partitions of our topic whose lowest acknowledged offset lies above the committed one."""
        acked = getattr(self.consumer, "_acked", None)
        committed = getattr(self.consumer, "_committed_offset", None)
        if acked is None or committed is None:
            if not self.disabled:
                log.warning("commit watchdog off: this Faust's Consumer has no _acked/_committed_offset")
                self.disabled = True
            return {}
        found = {}
        for tp, offsets in list(acked.items()):
            at = committed.get(tp)
            if tp.topic == self.topic and offsets and at is not None and min(offsets) > at:
                found[tp] = at
        return found

    async def check(self) -> int:
        """Seek back the partitions stuck at the same committed offset as at the last check."""
        holes = self.holes()
        stuck = {tp: at for tp, at in holes.items() if self.suspects.get(tp) == at}
        self.suspects = {tp: at for tp, at in holes.items() if tp not in stuck}
        for tp, at in stuck.items():
            log.warning("partition %s: commits stuck at offset %d behind unacknowledged messages; "
                        "reading again from there", tp.partition, at)  # fmt: skip
            await self.consumer.seek(tp, at)
            self.healed += 1
        return len(stuck)
