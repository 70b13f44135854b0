"""InfluxDB sink: counts, series states and anomaly events as idempotent, batched line-protocol points.

Schema (millisecond precision; tags are indexed, so only bounded sets are tags):

- `anomaly`: one point per event at its `decided` time. Tags `kind`, `scope`, `platform`, `metric`,
  `cause` (each a small closed set), plus `account` and `post` for scope `series` (absent for scope
  `platform` and for account-level series). `account` and `post` grow with the monitored series, but
  they are the series' identity: the per-series alert rule groups by them and `count` carries them
  anyway, so they add no series InfluxDB does not already index. Fields `drop`, `drop_pct`,
  `baseline`, `low`, `onset` (epoch ms), `duration_s` (decided - onset), `affected`, `of`, `evidence`
  (series pages: `observed` or `quiet`), `message`
  and `id` (the event id): a field, not a tag, because a tag unique per event would index every point.
- `series_state`: one point per change of a series' phase, at the time of the change. Tags as the
  series (plus `cause` while a drop is open); fields `phase` (`ok`, `dipping`, `paged`), `state`
  (0, 1, 2: the number alert rules compare) and `baseline`.
- `count`: one point per update, tags as the series, field `value`.

Every point's tags and timestamp come from the data alone, so writing the same stream twice writes the
same points and InfluxDB overwrites them: replays and restarts make no doubles.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

from influxdb_client import WritePrecision
from influxdb_client.client.influxdb_client_async import InfluxDBClientAsync
from influxdb_client.client.write_api_async import WriteApiAsync

from streams.engine.types import AnomalyEvent, Kind, Scope, Update
from streams.sinks.point_buffer import PointBuffer
from streams.errors import ServiceError
from streams.settings import InfluxSettings

log = logging.getLogger(__name__)

PHASE_STATE = {"ok": 0, "dipping": 1, "paged": 2}
_RETRY_FIRST_S = 0.25
_RETRY_MAX_S = 5.0
_TAG_ESCAPES = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\ ", "\\": "\\\\"})
_STR_ESCAPES = str.maketrans({'"': r"\"", "\\": "\\\\", "\n": r"\n"})


def tag(value: str) -> str:
    r"""A tag value in line protocol.

    >>> tag("my account, x=1")
    'my\\ account\\,\\ x\\=1'
    """
    return value.translate(_TAG_ESCAPES)


def string_field(value: str) -> str:
    r"""A quoted string field value.

    >>> string_field('says "hi"')
    '"says \\"hi\\""'
    """
    return '"' + value.translate(_STR_ESCAPES) + '"'


def series_tags(platform: str, account: str | None, metric: str, post: str | None) -> str:
    """The series' tags, sorted by key as InfluxDB prefers; absent parts are left out (no null tags)."""
    parts = [f"account={tag(account)}"] if account else []
    parts.append(f"metric={tag(metric)}")
    parts.append(f"platform={tag(platform)}")
    if post:
        parts.append(f"post={tag(post)}")
    return ",".join(parts)


def event_line(event: AnomalyEvent) -> str:
    """One `anomaly` point; tags in key order: account, cause, kind, metric, platform, post, scope."""
    tags = [f"cause={event.cause.value}", f"kind={event.kind.value}", f"metric={tag(event.metric)}",
            f"platform={tag(event.platform)}"]  # fmt: skip
    if event.account:
        tags.insert(0, f"account={tag(event.account)}")
    if event.post:
        tags.append(f"post={tag(event.post)}")
    tags.append(f"scope={event.scope.value}")
    fields = [
        f"baseline={float(event.baseline)!r}", f"low={float(event.low)!r}",
        f"drop={float(event.drop)!r}", f"drop_pct={round(event.drop_pct, 3)!r}",
        f"onset={event.onset_ms}i", f"duration_s={(event.decided_ms - event.onset_ms) / 1000.0!r}",
        f"message={string_field(event.message)}", f"id={string_field(event.event_id)}",
    ]  # fmt: skip
    if event.affected is not None:
        fields.append(f"affected={event.affected}i")
    if event.of is not None:
        fields.append(f"of={event.of}i")
    if event.evidence is not None:
        fields.append(f"evidence={string_field(event.evidence.value)}")  # observed, or quiet: no poll came
    return f"anomaly,{','.join(tags)} {','.join(fields)} {event.decided_ms}"


class InfluxSink:
    """Buffers points in memory and writes them in batches; bounded, retried, never silently lossy.

    The buffer holds `buffer_limit` points; when InfluxDB stays away until it is full, the oldest
    points go first and are counted in `dropped` (the worker exports it as a metric and says so in
    its log), so memory stays bounded and the newest history survives the outage.
    """

    name = "InfluxDB"

    def __init__(self, settings: InfluxSettings) -> None:
        self._settings = settings
        self._writer: WriteApiAsync | None = None
        self._client: InfluxDBClientAsync | None = None
        self._buffer: PointBuffer[str] = PointBuffer(settings.buffer_limit, settings.batch_size)
        self._tags_by_key: dict[str, str] = {}
        self.written = 0
        self.failed_attempts = 0

    @property
    def pending(self) -> int:
        return len(self._buffer)

    @property
    def dropped(self) -> int:
        return self._buffer.dropped

    @property
    def target(self) -> str:
        return self._settings.url

    def add_event(self, event: AnomalyEvent) -> None:
        self._append(event_line(event))

    def add_state(self, event: AnomalyEvent, phase: str, ts_ms: int) -> None:
        """The `series_state` point of `event`'s series entering `phase` at `ts_ms`."""
        tags = self._series_tags(event.series, event.platform, event.account, event.metric, event.post)
        # `cause` goes first, out of key order (`account` sorts before it): InfluxDB sorts tags on write.
        if phase != "ok":
            tags = f"cause={tag(event.cause.value)},{tags}"
        fields = f"phase={string_field(phase)},state={PHASE_STATE[phase]}i,baseline={float(event.baseline)!r}"
        self._append(f"series_state,{tags} {fields} {ts_ms}")

    def add_batch(self, updates: Iterable[Update], events: Iterable[AnomalyEvent]) -> None:
        """A processed batch: counts (when configured), the phase changes its events imply, the events.

        The worker and the backfill both write through here, so live and replayed histories match.
        """
        if self._settings.write_counts:
            for update in updates:
                self.add_count(update)
        event_list = list(events)
        for _key, event, phase, ts_ms in event_states(event_list):
            self.add_state(event, phase, ts_ms)
        for event in event_list:
            self.add_event(event)

    def add_count(self, update: Update) -> None:
        platform, account, metric, post, value, ts_ms, key = update
        tags = self._series_tags(key, platform, account, metric, post)
        self._append(f"count,{tags} value={float(value)!r} {ts_ms}")

    def _series_tags(self, key: str, platform: str, account: str | None, metric: str, post: str | None) -> str:
        # Escaping once per series, not per point: counts are the hot path (measured in the README).
        tags = self._tags_by_key.get(key)
        if tags is None:
            tags = self._tags_by_key[key] = series_tags(platform, account, metric, post)
        return tags

    def _append(self, line: str) -> None:
        self._buffer.add(line)

    async def flush(self, patience_s: float | None = None) -> int:
        """Write every buffered point, batch by batch, retrying with backoff for `patience_s`
        (default: the settings' `retry_for_s`; 0 tries once), then raise ServiceError.

        A batch leaves the buffer only once InfluxDB accepted it, so a failed flush loses nothing:
        the next flush starts again from the first unwritten batch.
        """
        flushed = 0
        while (batch := self._buffer.take()) is not None:
            try:
                await self._write_with_retry(batch, self._settings.retry_for_s if patience_s is None else patience_s)
            except BaseException:
                self._buffer.give_back(batch)
                raise
            self._buffer.done(batch)
            flushed += len(batch)
            self.written += len(batch)
        return flushed

    async def _write_with_retry(self, batch: list[str], patience_s: float) -> None:
        deadline = time.monotonic() + patience_s
        delay_s = _RETRY_FIRST_S
        while True:
            try:
                await self._write(batch)
                return
            except Exception as error:  # aiohttp, timeouts and ApiException alike: retried, then raised
                self.failed_attempts += 1
                remaining_s = deadline - time.monotonic()
                if remaining_s <= 0:
                    raise ServiceError(
                        f"InfluxDB at {self._settings.url} refused or missed {len(batch)} points "
                        f"for {patience_s:g}s ({_describe(error)})"
                    ) from error
                log.debug("influx write failed, retrying: error=%s retry_in_s=%.2f", _describe(error), delay_s)
                await asyncio.sleep(min(delay_s, remaining_s))
                delay_s = min(delay_s * 2, _RETRY_MAX_S)

    async def _write(self, batch: list[str]) -> None:
        if self._writer is None:
            self._client = InfluxDBClientAsync(
                url=self._settings.url, token=self._settings.token.get_secret_value(),
                org=self._settings.org, timeout=10_000,
            )  # fmt: skip
            self._writer = self._client.write_api()
        await self._writer.write(self._settings.bucket, self._settings.org, batch, WritePrecision.MS)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client, self._writer = None, None


def _describe(error: BaseException) -> str:
    # The exception's class and first line: never the request, which would carry the token header.
    first_line = str(error).splitlines()[0][:160] if str(error) else ""
    return f"{type(error).__name__}: {first_line}" if first_line else type(error).__name__


def event_states(events: Iterable[AnomalyEvent]) -> list[tuple[str, AnomalyEvent, str, int]]:
    """The phase changes a series went through, read from its events: (key, event, phase, ts_ms).

    A glitch or a page dipped at its onset; a glitch or a recovery ends at `ok`, a page at `paged`.
    Platform incidents and growth stalls change no series' phase.
    """
    states = []
    for event in events:
        if event.scope is not Scope.SERIES or event.kind is Kind.GROWTH_STALL:
            continue
        key = event.series
        if event.kind is not Kind.RECOVERY:
            states.append((key, event, "dipping", event.onset_ms))
        end = "paged" if event.kind is Kind.SUSTAINED_DROP else "ok"
        states.append((key, event, end, event.decided_ms))
    return states


async def write_replay_async(
    events: Iterable[AnomalyEvent], updates: Iterable[Update], settings: InfluxSettings
) -> int:
    """Counts, series states and events of a replay, flushed whenever a batch is full."""
    sink = InfluxSink(settings)
    try:
        for update in updates if settings.write_counts else ():
            sink.add_count(update)
            if sink.pending >= settings.batch_size:
                await sink.flush()
        for event in events:  # flushed as it goes: a full buffer would drop the oldest points
            sink.add_batch((), (event,))
            if sink.pending >= settings.batch_size:
                await sink.flush()
        await sink.flush()
        return sink.written
    finally:
        await sink.close()


def write_replay_to_influx(
    events: Iterable[AnomalyEvent], updates: Iterable[Update], settings: InfluxSettings
) -> int:
    """`write_replay_async` for synchronous callers (the CLI); returns the points written."""
    return asyncio.run(write_replay_async(events, updates, settings))
