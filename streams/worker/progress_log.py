"""What the worker tells its operator while it catches up: a line every few seconds, then one when done."""

from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)

CATCH_UP_EVERY_S = 5.0  # well under the bound of one line a second
_BEHIND = 1000  # messages behind before the worker calls it catching up (a busy stream is always a few behind)


class CatchUpLog:
    """Counts updates and, from the lag after each batch, says how far behind the worker is."""

    def __init__(self, every_s: float = CATCH_UP_EVERY_S, clock=time.monotonic) -> None:
        self.every_s, self.clock = every_s, clock
        self.updates = 0
        self.catching_up = False
        self._said_s = clock()
        self._updates_then = 0

    def observed(self, updates: int) -> None:
        self.updates += updates

    def lag_is(self, lag: int) -> None:
        now = self.clock()
        if now - self._said_s < self.every_s:
            return
        rate = (self.updates - self._updates_then) / (now - self._said_s)
        if lag >= _BEHIND:
            log.info("catching up: %s messages behind, %s updates/s", f"{lag:,}", f"{rate:,.0f}")
            self.catching_up = True
        elif self.catching_up:
            log.info("caught up: %s messages behind, %s updates/s", f"{lag:,}", f"{rate:,.0f}")
            self.catching_up = False
        self._said_s, self._updates_then = now, self.updates
