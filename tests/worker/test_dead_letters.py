"""Dead letters land on a topic whose limit is below the configured one, and a refused dead letter is
counted and logged, never raised into the worker."""

from __future__ import annotations

import asyncio
import logging

from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError
from prometheus_client import CollectorRegistry

from streams.formats.codec import Rejected
from streams.worker.dead_letters import DeadLetters


class Topic:
    """A dead-letter topic that takes values up to `limit` bytes; `broken` refuses everything."""

    def __init__(self, limit: int, broken: bool = False) -> None:
        self.limit, self.broken = limit, broken
        self.kept: list[tuple[bytes, dict[str, bytes]]] = []

    async def send(self, key, value, headers):
        answer: asyncio.Future = asyncio.get_running_loop().create_future()
        if self.broken:
            answer.set_exception(KafkaTimeoutError("no broker"))
        elif len(value) > self.limit:
            answer.set_exception(MessageSizeTooLargeError("too large"))
        else:
            self.kept.append((value, dict(headers)))
            answer.set_result(None)
        return answer


def count(registry: CollectorRegistry, name: str) -> float:
    return registry.get_sample_value(name) or 0.0


async def test_a_topic_smaller_than_the_configured_limit_still_gets_every_dead_letter_cut_and_marked() -> None:
    registry, topic = CollectorRegistry(), Topic(limit=300_000)
    letters = DeadLetters(topic, registry, max_bytes=900_000)
    big, small = Rejected("not_json", "x", b"\xff" * 600_000), Rejected("not_json", "x", b"{nope")
    await letters.send_all([(big, b"k", "t/0/1"), (small, b"k", "t/0/2"), (big, b"k", "t/0/3")])
    assert len(topic.kept) == 3
    for value, headers in topic.kept:
        assert len(value) <= topic.limit
        if value != b"{nope":
            assert value == big.raw[: len(value)] and headers["dipwatch-truncated"] == b"600000"
    assert count(registry, "dipwatch_dead_letters_truncated_total") == 2
    assert count(registry, "dipwatch_dead_letters_failed_total") == 0


async def test_a_refused_dead_letter_is_counted_and_logged_with_its_source_and_never_raised(caplog) -> None:
    registry = CollectorRegistry()
    letters = DeadLetters(Topic(limit=1 << 20, broken=True), registry, max_bytes=900_000)
    with caplog.at_level(logging.ERROR, logger="streams.worker.dead_letters"):
        await letters.send_all([(Rejected("bad_type", "x", b"{}"), None, f"t/0/{n}") for n in range(5)])
    assert count(registry, "dipwatch_dead_letters_failed_total") == 5
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "t/0/0" in lines[0] and "KafkaTimeoutError" in lines[0]
