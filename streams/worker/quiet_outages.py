"""Broker outages in a few lines, not thousands: the Kafka clients' reconnect noise, rate-limited.

While a broker is away, aiokafka and Faust log every failed connection, fetch and heartbeat (about
110 warning and error lines a second were measured in a 30 s outage). This filter lets the first of
them through, then at most one line every `every_s` seconds that says since when the trouble lasts
and how many lines it held back; a spell ends when the clients have been quiet for `every_s`.
"""

from __future__ import annotations

import logging
import time

#: Loggers whose warnings and errors are client noise during an outage (children included).
NOISY = ("aiokafka", "kafka", "faust.transport", "faust.tables", "faust.app", "faust.sensors", "mode")
_SECONDS_FORMAT = "%H:%M:%S"


class OutageFilter(logging.Filter):
    """Passes every record below WARNING and every record of other loggers untouched."""

    def __init__(self, every_s: float = 5.0, clock=time.time) -> None:
        super().__init__()
        self.every_s, self.clock = every_s, clock
        self.since: float | None = None  # first noisy record of the current spell
        self.last_passed = 0.0
        self.last_seen = 0.0
        self.held = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or not record.name.startswith(NOISY):
            return True
        now = self.clock()
        if self.since is None or now - self.last_seen > self.every_s:
            self.since, self.held = now, 0  # a new spell: its first line goes through as it is
            self.last_passed = self.last_seen = now
            return True
        self.last_seen = now
        if now - self.last_passed < self.every_s:
            self.held += 1
            return False
        since = time.strftime(_SECONDS_FORMAT, time.gmtime(self.since))
        record.msg = (f"Kafka clients in trouble since {since} UTC ({now - self.since:.0f} s; "
                      f"{self.held} similar lines held back); latest: {record.getMessage()}")  # fmt: skip
        record.args = ()
        self.last_passed, self.held = now, 0
        return True


def install(handlers: list[logging.Handler]) -> OutageFilter:
    """One filter on each handler: a logger's filter would not see its children's records."""
    outage_filter = OutageFilter()
    for handler in handlers:
        handler.addFilter(outage_filter)
    return outage_filter
