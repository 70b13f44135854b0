"""Dead letters: every rejected record on the dead-letter topic, its bytes exactly as they came.

A dead letter's value is the rejected record's raw bytes (for an element of a batch message, that
element re-encoded), so a fixed producer can re-send it as it is; why it was rejected and where it
came from travel in headers:

- `dipwatch-reason`: the reason code (`not_json`, `bad_time`, ...; `no_value` for a tombstone);
- `dipwatch-detail`: the human sentence, at most 300 bytes of UTF-8;
- `dipwatch-source`: `topic/partition/offset` of the input message;
- `dipwatch-truncated`: only when the record was longer than `dead_letter_max_bytes`, its full
  length; the value then holds its first `dead_letter_max_bytes` bytes (the whole record is still
  in the input topic at `dipwatch-source`, for as long as the topic keeps it).

A dead letter that cannot be sent (broker refuses it, topic missing) never stops the worker: it is
counted (`dipwatch_dead_letters_failed`) and logged with its source position, at most one line per
reason every 10 s.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from streams.codec import Rejected

log = logging.getLogger(__name__)

_DETAIL_BYTES = 300
_LOG_EVERY_S = 10.0


def dead_letter_headers(rejected: Rejected, source: str, max_bytes: int) -> list[tuple[str, bytes]]:
    """The headers of `rejected`'s dead letter (see the module's docstring)."""
    headers = [
        ("dipwatch-reason", rejected.reason.encode()),
        ("dipwatch-detail", rejected.detail.encode("utf-8", "replace")[:_DETAIL_BYTES]),
        ("dipwatch-source", source.encode()),
    ]
    if len(rejected.raw) > max_bytes:
        headers.append(("dipwatch-truncated", str(len(rejected.raw)).encode()))
    return headers


class DeadLetters:
    """Sends rejected records to the dead-letter topic and counts what it could not send."""

    def __init__(self, topic: Any, registry: CollectorRegistry, max_bytes: int) -> None:
        self.topic, self.max_bytes = topic, max_bytes
        self.truncated = Counter("dipwatch_dead_letters_truncated",
                                 "Dead letters cut to dead_letter_max_bytes", registry=registry)  # fmt: skip
        self.failed = Counter("dipwatch_dead_letters_failed",
                              "Dead letters the broker did not take (logged with their source)", registry=registry)  # fmt: skip
        self._logged_s: dict[str, float] = {}
        self._unlogged: dict[str, int] = {}

    async def send_all(self, rejects: list[tuple[Rejected, bytes | None, str]]) -> None:
        """Dead letters for (record, input key, source position), sent together, each answer awaited:
        a refusal is seen here, not lost in a producer callback."""
        sending = []
        for rejected, key, source in rejects:
            if len(rejected.raw) > self.max_bytes:
                self.truncated.inc()
            headers = dead_letter_headers(rejected, source, self.max_bytes)
            try:
                sending.append((await self.topic.send(key=key or None, value=rejected.raw[: self.max_bytes],
                                                      headers=headers), rejected, source))  # fmt: skip
            except Exception as error:  # the producer refused it at once (too large, closed)
                self._failed(rejected.reason, source, error)
        for future, rejected, source in sending:
            try:
                await future
            except Exception as error:  # the broker refused it
                self._failed(rejected.reason, source, error)

    def _failed(self, reason: str, source: str, error: BaseException) -> None:
        self.failed.inc()
        self._log_failure(reason, source, error)

    def _log_failure(self, reason: str, source: str, error: BaseException) -> None:
        now = time.monotonic()
        if now - self._logged_s.get(reason, -_LOG_EVERY_S) < _LOG_EVERY_S:
            self._unlogged[reason] = self._unlogged.get(reason, 0) + 1
            return
        self._logged_s[reason] = now
        also = self._unlogged.pop(reason, 0)
        log.error(
            "dead letter not sent (%s: %s); the record stays in the input at %s%s",
            type(error).__name__, str(error).splitlines()[0][:160] if str(error) else "", source,
            f" ({also} more {reason} dead letters failed since the last line)" if also else "",
        )  # fmt: skip
