"""Creating dipwatch's Kafka topics: input, output, dead letters and the platform stage's."""

from __future__ import annotations

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from streams.errors import ServiceError
from streams.settings import KafkaSettings


def create_topics(kafka: KafkaSettings, input_max_message_bytes: int) -> list[tuple[str, bool]]:
    """Each topic's name and whether it was created (an existing one is left alone).

    The input takes messages up to `input_max_message_bytes`, the worker's fetch size: pollers batch
    updates, and a record too large for the broker would be refused before it could be dead-lettered.
    """
    names = (kafka.input_topic, kafka.output_topic, kafka.dead_letter_topic, kafka.platform_topic)
    try:
        admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    except KafkaError as error:
        raise ServiceError(f"Kafka is not reachable: {error}") from error
    results = []
    try:
        for name in names:
            configs = {"max.message.bytes": str(input_max_message_bytes)} if name == kafka.input_topic else {}
            try:
                admin.create_topics([NewTopic(name, kafka.partitions, kafka.replication_factor, topic_configs=configs)])
                results.append((name, True))
            except TopicAlreadyExistsError:
                results.append((name, False))
    finally:
        admin.close()
    return results
