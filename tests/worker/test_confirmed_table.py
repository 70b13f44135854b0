"""The platform stage acknowledges a message only once its table record is on the changelog:
`confirmed()` waits for every record written so far, and a refused record crashes the worker."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from streams.settings import load_settings
from streams.worker import build_app, partition_of
from streams.worker.confirmed_table import ConfirmedTable
from streams.worker.table_writes import as_partition

KEYS = [f"x/acct{i}/followers".encode() for i in range(3)]


class ChangelogSend(asyncio.Future):
    """What the producer hands back for a changelog record: resolved when the broker has it."""

    def __init__(self, partition: int) -> None:
        super().__init__()
        self.message = type("Message", (), {"partition": partition})()


def built_tables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> tuple[Any, dict[str, list[ChangelogSend]]]:
    monkeypatch.setenv("DIPWATCH_WORKER__DATA_DIR", str(tmp_path))
    app = build_app(load_settings())
    sent: list[ChangelogSend] = []

    def send_soon(**record: Any) -> ChangelogSend:
        sent.append(ChangelogSend(record["partition"]))
        return sent[-1]

    monkeypatch.setattr(app.tables["platform_state"].changelog_topic, "send_soon", send_soon)  # no broker here
    return app, {"platform_state": sent}


def write(table: Any, partitions: int) -> None:
    for key in KEYS:
        with as_partition("dipwatch.metrics", partition_of(key, partitions)):
            table[key] = b"state"


def test_the_platform_table_is_a_confirmed_table(monkeypatch, tmp_path: Path) -> None:
    app, _ = built_tables(monkeypatch, tmp_path)
    assert isinstance(app.tables["platform_state"], ConfirmedTable)


async def test_confirmed_waits_for_every_changelog_record_written_so_far(monkeypatch, tmp_path: Path) -> None:
    app, sends = built_tables(monkeypatch, tmp_path)
    table, sent = app.tables["platform_state"], sends["platform_state"]
    write(table, load_settings().kafka.partitions)
    assert len(sent) == len(KEYS)
    waiting = asyncio.ensure_future(table.confirmed())
    for record in sent:
        await asyncio.sleep(0.01)
        assert not waiting.done()  # a record is still only in the producer's buffer
        record.set_result(None)
    await asyncio.wait_for(waiting, timeout=1)
    await asyncio.wait_for(table.confirmed(), timeout=1)  # nothing written since: returns at once


async def test_a_refused_changelog_record_crashes_the_worker(monkeypatch, tmp_path: Path) -> None:
    app, sends = built_tables(monkeypatch, tmp_path)
    crashes: list[BaseException] = []

    async def crash(reason: BaseException) -> None:
        crashes.append(reason)

    monkeypatch.setattr(app, "crash", crash)
    table = app.tables["platform_state"]
    write(table, load_settings().kafka.partitions)
    refused = RuntimeError("the broker refused the record")
    sends["platform_state"][0].set_exception(refused)
    for record in sends["platform_state"][1:]:
        record.set_result(None)
    with pytest.raises(RuntimeError, match="refused"):
        await table.confirmed()
    assert crashes == [refused]


async def test_a_commit_flush_waits_for_every_record_queued_before_it(monkeypatch, tmp_path: Path) -> None:
    """Faust's own flush gives up after 0.1 s without a record sent; the worker's waits for each
    record queued when it began, however slow the sender, and not for those queued after."""
    monkeypatch.setenv("DIPWATCH_WORKER__DATA_DIR", str(tmp_path))
    buffer = build_app(load_settings()).producer.buffer
    buffer._started.set()  # running, as in a started worker
    sent: list[int] = []

    class SlowChannel:
        async def publish_message(self, future: Any, wait: bool) -> None:
            await asyncio.sleep(0.15)  # longer than Faust's 0.1 s patience
            sent.append(future.number)

    class Record:
        def __init__(self, number: int) -> None:
            self.number, self.message = number, type("Message", (), {"channel": SlowChannel()})()

    for number in range(3):
        buffer.pending.put_nowait(Record(number))

    async def sender() -> None:  # what the buffer's own task does, through the same method
        while True:
            await buffer._send_pending(await buffer.pending.get())
            buffer.message_sent.set()

    sending = asyncio.ensure_future(sender())
    try:
        flushing = asyncio.ensure_future(buffer.flush())
        await asyncio.sleep(0.05)
        buffer.pending.put_nowait(Record(99))  # queued after the flush began: the next commit's
        await asyncio.wait_for(flushing, timeout=5)
        assert sent == [0, 1, 2]  # all three, and the flush returned before the fourth went
    finally:
        sending.cancel()
