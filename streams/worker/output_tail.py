"""What a partition's detector already published, read back from the output topic when it starts.

A worker that dies after publishing an event but before saving the series that decided it (or a
partition that moves to another worker in that moment) re-reads the input from the committed offset
and decides the event again, with the same id. Events are keyed by series, so a partition's events
all sit on the output partition of the same number; the new detector reads that partition's last
`TAIL` messages once and does not publish an id it finds there again. Ids are series@onset:kind,
so one id never names two incidents: skipping a known id is always safe.
"""

from __future__ import annotations

import logging

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

log = logging.getLogger(__name__)

TAIL = 20_000  # messages: far more events than one checkpoint interval decides on one partition
_READ_TIMEOUT_MS = 2_000


async def published_ids(bootstrap_servers: str, topic: str, partition: int, tail: int = TAIL) -> set[str]:
    """Ids of the last `tail` events on `topic`'s `partition`; empty if it cannot be read (logged)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False, group_id=None)
    found: set[str] = set()
    try:
        await consumer.start()
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        end = (await consumer.end_offsets([tp]))[tp]
        start = max((await consumer.beginning_offsets([tp]))[tp], end - tail)
        consumer.seek(tp, start)
        while end > start and await consumer.position(tp) < end:
            batch = await consumer.getmany(tp, timeout_ms=_READ_TIMEOUT_MS)
            if not batch:
                break
            for record in batch.get(tp, ()):
                try:
                    found.add(orjson.loads(record.value)["id"])
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    continue  # not one of ours: nothing to skip
    except Exception as error:  # a duplicate is the worst outcome of not knowing: say so, go on
        log.warning("could not read %s[%d] back (%s): events re-decided after a crash may be sent twice",
                    topic, partition, type(error).__name__)  # fmt: skip
    finally:
        await consumer.stop()
    return found
