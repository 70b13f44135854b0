"""The series table written outside any stream event lands in the partition Kafka's default
partitioner picks for the key: local RocksDB database and changelog record alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from streams.settings import load_settings
from streams.worker import build_app, partition_of
from streams.worker.table_writes import as_partition

KEYS = [f"instagram/acct{i}/followers".encode() for i in range(40)]


def series_table(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, store: str) -> tuple[Any, list[dict]]:
    monkeypatch.setenv("DIPWATCH_WORKER__STORE", store)
    monkeypatch.setenv("DIPWATCH_WORKER__DATA_DIR", str(tmp_path))
    app = build_app(load_settings())
    table = app.tables["series_state"]
    sent: list[dict] = []

    class Sent:  # what Faust reads back from the changelog send: the partition it went to
        def __init__(self, partition: int) -> None:
            self.message = type("Message", (), {"partition": partition})()

    def send_soon(**record: Any) -> Sent:
        sent.append(record)
        return Sent(record["partition"])

    monkeypatch.setattr(table.changelog_topic, "send_soon", send_soon)  # no broker in a unit test
    return table, sent


def write_all(table: Any, partitions: int) -> None:
    for key in KEYS:
        with as_partition("dipwatch.metrics", partition_of(key, partitions)):
            table[key] = b"state:" + key


def test_rocksdb_writes_go_to_the_keys_partition_database_and_changelog(monkeypatch, tmp_path: Path) -> None:
    table, sent = series_table(monkeypatch, tmp_path, "rocksdb://")
    partitions = load_settings().kafka.partitions
    write_all(table, partitions)
    store = table.data
    assert len({partition_of(k, partitions) for k in KEYS}) == partitions  # every partition is exercised
    for key, record in zip(KEYS, sent, strict=True):
        expected = partition_of(key, partitions)
        assert record["key"] == key and record["partition"] == expected
        for partition in range(partitions):
            held = store._db_for_partition(partition).get(key)
            assert held == (b"state:" + key if partition == expected else None)
    assert all(table.get(key) == b"state:" + key for key in KEYS)  # read back outside any event


def test_memory_store_takes_the_same_writes(monkeypatch, tmp_path: Path) -> None:
    table, sent = series_table(monkeypatch, tmp_path, "memory://")
    partitions = load_settings().kafka.partitions
    write_all(table, partitions)
    assert [r["partition"] for r in sent] == [partition_of(k, partitions) for k in KEYS]
    assert all(table[key] == b"state:" + key for key in KEYS)


def test_the_stand_in_event_ends_with_the_block() -> None:
    from faust.streams import current_event

    with as_partition("dipwatch.metrics", 2):
        assert current_event().message.partition == 2
    assert current_event() is None
