"""The `series_state` table seen from the series stage: each series saved into its own partition,
a partition's series restored into its detector."""

from __future__ import annotations

from collections.abc import Iterable

import faust

from streams.engine import Detector, Update
from streams.formats.state import decode_state, encode_state
from streams.worker.table_writes import as_partition, partition_of


class SeriesTable:
    """Series state ↔ the changelog-backed table, keyed by the series key's bytes."""

    def __init__(self, app: faust.App, input_topic: str, partitions: int) -> None:
        # Written only through `save`, which names the partition (`as_partition`): the one Kafka's
        # default partitioner picks for the series key, for the local store and the changelog alike.
        self.table = app.Table("series_state", key_type=bytes, value_type=bytes)
        self.input_topic, self.partitions = input_topic, partitions

    def save(self, detector: Detector, keys: Iterable[str]) -> None:
        """Write series state to the table, each key into its own partition's store and changelog.

        Safe under rebalances because every write happens under the series stage's lock, in a
        checkpoint or a conclusion, before the messages that led to it are acknowledged; Faust
        suspends flow on a revocation and waits for every tracked message to be acknowledged (the
        series stage sees the suspension and checkpoints at once) before it commits and hands the
        partition over, so the new owner restores state at least as new as the committed offset. A
        write for a partition this worker has just lost still goes to that partition's changelog;
        the new owner either restores it or re-reads the updates it came from, which it then
        decides the same way (a duplicate at worst, never a loss).
        """
        partitions, table, topic = self.partitions, self.table, self.input_topic
        for key in keys:
            state = detector.export_series(key)
            if state is not None:
                raw = key.encode()
                with as_partition(topic, partition_of(raw, partitions)):
                    table[raw] = encode_state(state)  # assignment: only that reaches the changelog

    def restore_partition(self, detector: Detector, partition: int) -> None:
        """Every saved series of `partition` into its new detector, scheduled again, so a series
        that went silent before a restart still has its hold expire."""
        for key, data in list(self.table.items()):
            if partition_of(key, self.partitions) == partition:
                detector.import_series(decode_state(key.decode(), data))

    def load_unseen(self, detector: Detector, updates: list[Update]) -> None:
        """Series keyed onto an unexpected partition were not found by `restore_partition`."""
        for key in {u.key for u in updates}:
            if detector.export_series(key) is None:
                data = self.table.get(key.encode())
                if data is not None:
                    detector.import_series(decode_state(key, data))
