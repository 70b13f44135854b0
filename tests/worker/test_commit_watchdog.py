"""The commit watchdog seeks back only partitions stuck behind the same hole at two checks."""

from __future__ import annotations

import asyncio

from faust.types import TP

from streams.worker.commit_watchdog import CommitWatchdog

INPUT = "dipwatch.metrics"


class ConsumerState:
    """The two fields of Faust's Consumer the watchdog reads, and the seeks it asks for."""

    def __init__(self) -> None:
        self._acked: dict[TP, list[int]] = {}
        self._committed_offset: dict[TP, int | None] = {}
        self.seeks: list[tuple[TP, int]] = []

    async def seek(self, tp: TP, offset: int) -> None:
        self.seeks.append((tp, offset))


def test_a_hole_that_stays_at_the_same_offset_is_sought_back_once() -> None:
    consumer = ConsumerState()
    stuck, fine = TP(INPUT, 0), TP(INPUT, 1)
    consumer._committed_offset = {stuck: 40, fine: 10}
    consumer._acked = {stuck: [57, 58, 59], fine: [10, 11]}
    watchdog = CommitWatchdog(consumer, INPUT)
    assert asyncio.run(watchdog.check()) == 0  # first sight: may still be in flight
    assert asyncio.run(watchdog.check()) == 1
    assert consumer.seeks == [(stuck, 40)]
    assert asyncio.run(watchdog.check()) == 0  # seen anew after a seek: wait another round
    assert consumer.seeks == [(stuck, 40)]


def test_a_hole_that_moves_on_or_belongs_to_another_topic_is_left_alone() -> None:
    consumer = ConsumerState()
    moving, other = TP(INPUT, 2), TP("dipwatch.platform", 0)
    consumer._committed_offset = {moving: 5, other: 0}
    consumer._acked = {moving: [9], other: [7]}
    watchdog = CommitWatchdog(consumer, INPUT)
    asyncio.run(watchdog.check())
    consumer._committed_offset[moving] = 9  # Faust committed past it in between
    consumer._acked[moving] = [12]
    assert asyncio.run(watchdog.check()) == 0
    assert consumer.seeks == []


def test_a_faust_without_those_fields_turns_the_watchdog_off() -> None:
    watchdog = CommitWatchdog(object(), INPUT)
    assert asyncio.run(watchdog.check()) == 0
    assert watchdog.disabled
