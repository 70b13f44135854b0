"""A Faust table whose changelog records can be awaited before the input they came from is
acknowledged.

Faust sends a table write to its changelog through the producer's buffer, and its commit flushes
that buffer for at most 0.1 s per record before it commits anyway. On a busy worker a commit can
therefore pass records still in the buffer; after a kill -9 that also loses the data dir, the
next owner restores from the changelog alone and skips the updates behind those records. Waiting
for the records we wrote (and only those: a producer-wide flush never ends while other stages keep
producing) closes that window.
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
