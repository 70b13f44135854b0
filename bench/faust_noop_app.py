"""A Faust app that reads the worker's input topic and does nothing with it: Faust's own ceiling.

`bench/worker_bench.py` runs it on the same topic as the worker, with its own consumer group, and
measures it the same way (committed offsets), so the worker's figure sits beside what Faust's
per-message path costs on this machine before any work is done. Settings come from the same
environment the worker reads (DIPWATCH_KAFKA__*, DIPWATCH_WORKER__WEB_PORT).
"""

from __future__ import annotations

import faust

from streams.settings import load_settings

_settings = load_settings()
app = faust.App(
    _settings.kafka.group_id,
    broker=f"kafka://{_settings.kafka.bootstrap_servers}",
    store="memory://",
    web_port=_settings.worker.web_port,
    web_bind="127.0.0.1",
    consumer_auto_offset_reset="earliest",
    key_serializer="raw",
    value_serializer="raw",
    autodiscover=False,
)
_input = app.topic(_settings.kafka.input_topic, key_type=bytes, value_type=bytes, value_serializer="raw")


@app.agent(_input, name="noop")
async def noop(stream: faust.StreamT) -> None:
    async for _ in stream.events():  # each event is acknowledged when the loop moves on
        pass
