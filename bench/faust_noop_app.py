"""A Faust app that reads the worker's input topic and does nothing with it: Faust's per-message path.

`bench/worker_bench.py` runs it on the same topic as the worker, with its own consumer group, and
measures it the same way (committed offsets), so the worker's figure sits beside what Faust's
per-message stream costs on this machine before any work is done. It is a reference, not a
ceiling: the worker drains the channel in bulk, so it can beat it. Settings come from the
environment the worker reads (DIPWATCH_KAFKA__*, DIPWATCH_WORKER__WEB_PORT and DATA_DIR).
"""

from __future__ import annotations

import faust

from streams.settings import load_settings

_settings = load_settings()
app = faust.App(
    _settings.kafka.group_id,
    broker=f"kafka://{_settings.kafka.bootstrap_servers}",
    store="memory://",
    datadir=str(_settings.worker.data_dir),  # not the current directory
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
