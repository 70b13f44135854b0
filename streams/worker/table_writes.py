"""Write a Faust table from the bulk-drain task, where no stream event is current.

Faust's stores pick where a key lives from the event being processed: RocksDB's `_set` asserts
there is one and writes into the database of `event.message.partition`, and a table without
`use_partitioner` sends its changelog record to that same partition. The series stage drains the
input channel itself, so it names the partition instead: `as_partition(topic, p)` makes a stand-in
event for partition `p` current for the duration of one synchronous table write, and both the
local database and the changelog record then go to `p`.

The worker passes `partition_of(key)`, the partition Kafka's default partitioner picks for the
key, so a series' local copy, its changelog record and the input partition a default producer
sends its updates to are the same, and Faust restores the series on whichever worker gets that
partition next.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
import weakref

from aiokafka.partitioner import murmur2
from faust.streams import _current_event


def partition_of(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (Java, kafka-python, aiokafka alike) picks for a key."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


@dataclass(frozen=True, slots=True)
class _PartitionMessage:
    topic: str  # Faust checks once that it has as many partitions as the changelog
    partition: int


class _PartitionEvent:
    """All of an event that the table and its stores read during a write: the message's partition."""

    __slots__ = ("message", "__weakref__")  # Faust keeps the current event as a weak reference

    def __init__(self, topic: str, partition: int) -> None:
        self.message = _PartitionMessage(topic, partition)


@contextmanager
def as_partition(topic: str, partition: int) -> Iterator[None]:
    """Table writes inside the block go to `partition` (local store and changelog), as if a
    message of `topic` were being processed. Keep the block free of `await`: the stand-in must
    not be the current event of anything else."""
    event = _PartitionEvent(topic, partition)
    token = _current_event.set(weakref.ref(event))  # type: ignore[arg-type]
    try:
        yield
    finally:
        _current_event.reset(token)
