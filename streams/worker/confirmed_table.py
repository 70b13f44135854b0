"""The changelog ahead of the committed offsets: table records reach the broker before a commit
passes the input they came from.

Faust sends a table write to its changelog through the producer's buffer, and its commit flushes
that buffer only until 0.1 s pass without a record sent, then commits anyway. On a busy worker a
commit can therefore pass records still in the buffer; after a kill -9 that also loses the data
dir, the next owner restores from the changelog alone and skips the input behind those records.

Two closings, one per stage:
- `commits_wait_for_the_buffer`: the flush in Faust's commit waits for every record queued before
  it (the Kafka client's flush, which follows, waits for the broker). This covers the series
  state: its checkpoint acknowledges at once, and the commit that follows waits. Holding the
  checkpoint's acknowledgements back instead (awaited, or acknowledged later from the timer), like
  a producer flush inside the checkpoint, left a worker that joined the group mid-stream fetching
  nothing, in 2 to 4 of 5 runs of the two-worker test; the cause, somewhere in Faust's rebalance,
  was not found.
- `ConfirmedTable`: the platform agent waits for its one record per message before Faust
  acknowledges the message.
"""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from faust.types import FutureMessage


class ConfirmedTable(faust.Table):
    """`faust.Table` that remembers the future of every changelog record until `confirmed()`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unconfirmed: list[FutureMessage] = []

    def send_changelog(self, *args: Any, **kwargs: Any) -> FutureMessage:
        future = super().send_changelog(*args, **kwargs)
        self._unconfirmed.append(future)
        return future

    async def confirmed(self) -> None:
        """Return once the broker has every changelog record written so far. A record the broker
        refused crashes the worker: the input behind it must not be acknowledged, and the next
        owner reads it again from the committed offset."""
        pending, self._unconfirmed = self._unconfirmed, []
        if pending:
            try:
                await asyncio.gather(*pending)
            except Exception as exc:
                await self.app.crash(exc)
                raise


def confirmed_table(app: faust.App, name: str, **options: Any) -> ConfirmedTable:
    """Register a `ConfirmedTable` with the app, as `app.Table(name, **options)` would a plain one."""
    table = ConfirmedTable(app, name=name, beacon=app.tables.beacon, **options)
    return app.tables.add(table)  # type: ignore[return-value]


def commits_wait_for_the_buffer(app: faust.App) -> None:
    """Make the producer-buffer flush that Faust's commit runs wait until every record queued or
    being sent when it began has been handed to the Kafka client (whose own flush, which the
    commit runs next, then waits for the broker). Faust's flush gives up after 0.1 s without a
    record sent, which a busy event loop easily exceeds; records queued after the flush began are
    left for the next commit, so a steady stream of table writes cannot hold a commit back.
    Installed before the app starts: the buffer's sender task picks up `_send_pending` then."""
    buffer = app.producer.buffer
    faust_flush, faust_send = buffer.flush, buffer._send_pending
    counts = {"sent": 0, "sending": 0}
    progress = asyncio.Condition()

    async def send_pending(future: FutureMessage) -> None:
        counts["sending"] += 1
        try:
            await faust_send(future)
        finally:
            counts["sending"] -= 1
            counts["sent"] += 1
            async with progress:
                progress.notify_all()

    async def flush() -> None:
        if buffer.state != "running":  # stopping: no sender left to wait for; Faust's own says so
            return await faust_flush()
        target = counts["sent"] + counts["sending"] + buffer.size
        async with progress:
            await progress.wait_for(lambda: counts["sent"] >= target)

    buffer._send_pending = send_pending  # type: ignore[method-assign]
    buffer.flush = flush  # type: ignore[method-assign]
