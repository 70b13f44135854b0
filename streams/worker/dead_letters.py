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

A dead letter the broker refuses as too large (a topic whose `max.message.bytes` is below
`dead_letter_max_bytes`) is sent again cut to half the length, down to 1 KiB, and that shorter limit
is kept for the dead letters after it, so each still lands on the topic, marked as cut.

A dead letter that cannot be sent (topic missing, broker down past the producer's retries, or too
large even at 1 KiB) never stops the worker: it is counted (`dipwatch_dead_letters_failed`) and
logged with its source position, at most one line per reason every 10 s.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from aiokafka.errors import MessageSizeTooLargeError, RecordTooLargeError
from prometheus_client import CollectorRegistry, Counter

from streams.formats.codec import Rejected

log = logging.getLogger(__name__)

_DETAIL_BYTES = 300
_LOG_EVERY_S = 10.0
_SMALLEST_CUT = 1024
_TOO_LARGE = (MessageSizeTooLargeError, RecordTooLargeError)


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
        self.rejects = Counter("dipwatch_rejects", "Records sent to the dead letters", ["reason"], registry=registry)
        self.truncated = Counter("dipwatch_dead_letters_truncated",
                                 "Dead letters cut to dead_letter_max_bytes", registry=registry)  # fmt: skip
        self.failed = Counter("dipwatch_dead_letters_failed",
                              "Dead letters the broker did not take (logged with their source)", registry=registry)  # fmt: skip
        self._logged_s: dict[str, float] = {}
        self._unlogged: dict[str, int] = {}

    async def send_all(self, rejects: list[tuple[Rejected, bytes | None, str]]) -> None:
        """Dead letters for (record, input key, source position), sent together, each answer awaited:
        a refusal is seen here, not lost in a producer callback."""
        for rejected, _, _ in rejects:
            self.rejects.labels(rejected.reason).inc()
        sending = []
        for rejected, key, source in rejects:
            if len(rejected.raw) > self.max_bytes:
                self.truncated.inc()
            sending.append((await self._send(rejected, key, source, self.max_bytes), rejected, key, source, self.max_bytes))
        for answer, rejected, key, source, cut in sending:
            await self._settle(answer, rejected, key, source, cut)

    async def _send(self, rejected: Rejected, key: bytes | None, source: str, cut: int) -> Any:
        """The producer's future for one dead letter cut to `cut` bytes, or its immediate refusal."""
        try:
            return await self.topic.send(key=key or None, value=rejected.raw[:cut],
                                         headers=dead_letter_headers(rejected, source, cut))  # fmt: skip
        except Exception as error:  # the producer refused it at once (too large, closed)
            return error

    async def _settle(self, answer: Any, rejected: Rejected, key: bytes | None, source: str, cut: int) -> None:
        """Wait for one dead letter's answer; a too-large refusal is sent again shorter."""
        while True:
            try:
                if isinstance(answer, BaseException):
                    raise answer
                await answer
                return
            except _TOO_LARGE as error:
                sent = min(len(rejected.raw), cut)
                if sent <= _SMALLEST_CUT:
                    self._failed(rejected.reason, source, error)
                    return
                if self.max_bytes >= sent:  # no other dead letter has learnt a shorter limit yet
                    self.max_bytes = max(_SMALLEST_CUT, sent // 2)
                    log.warning("the dead-letter topic refused a %d-byte dead letter; dead letters are now cut to %d bytes",
                                sent, self.max_bytes)  # fmt: skip
                if len(rejected.raw) <= cut:
                    self.truncated.inc()  # it fitted the configured limit, not the topic's
                cut = self.max_bytes
                answer = await self._send(rejected, key, source, cut)
            except Exception as error:  # the broker refused it for another reason
                self._failed(rejected.reason, source, error)
                return

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
