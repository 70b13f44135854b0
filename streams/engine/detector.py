"""Detector: routes updates to their series, keeps event time, and turns decisions into events.

Updates wait in their series' small pending list until the watermark (newest event time seen,
less the lateness allowance) passes them, and are then applied in event-time order: late,
duplicated and reordered updates within the allowance give exactly the events an ordered
stream gives. A dip whose series goes silent after its hold (removed content) is still decided
on the watermark, once the silence outlasts the series' cadence; that page says so.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from sys import intern

from streams.engine.config import HOUR_MS, MINUTE_MS, DetectorConfig
from streams.engine.messages import describe
from streams.engine.outcome import Outcome
from streams.engine.platform import PlatformAggregator, PlatformDelta
from streams.engine.schedule import DueTimes
from streams.engine.series import DIPPING, NO_PENDING, SeriesState, expire_hold, quiet_deadline_ms, step_many_flat
from streams.engine.types import AnomalyEvent, Evidence, Kind, Scope, Update

_EVENT_KINDS = {
    "glitch": Kind.GLITCH,
    "paged": Kind.SUSTAINED_DROP,
    "recovered": Kind.RECOVERY,
    "stall": Kind.GROWTH_STALL,
}
_NEVER = -(2**62)


@dataclass
class DetectorCounts:
    """What the detector saw, beyond the events: for the summary and the metrics."""

    updates: int = 0
    duplicates: int = 0
    too_late: int = 0


class Detector:
    """The engine's facade: `observe()` updates, `advance()` event time, both return events.

    `platforms` decides platform incidents in-process (replay, demo); a worker that shares them
    across partitions passes `platforms=None` and forwards `take_platform_deltas()` instead.

    >>> d = Detector(DetectorConfig(lateness_ms=0))
    >>> rows = [(0, 1000), (1, 1001), (2, 1002), (3, 1003), (4, 900), (5, 1004)]
    >>> events = d.observe_many(Update("x", "acme", "followers", None, v, m * 60_000) for m, v in rows)
    >>> [(e.kind.value, e.cause.value, e.low) for e in events + d.flush()]
    [('glitch', 'glitch', 900)]
    """

    def __init__(
        self,
        config: DetectorConfig | None = None,
        platforms: PlatformAggregator | None | str = "local",
        track_touched: bool = True,
    ) -> None:
        self.config = config or DetectorConfig()
        self.platforms = PlatformAggregator(self.config) if platforms == "local" else platforms
        self.counts = DetectorCounts()
        self._series: dict[str, SeriesState] = {}
        self._due = DueTimes()
        self._max_ts = _NEVER
        self._watermark = _NEVER
        self._platform_minute = _NEVER
        self._deltas: list[PlatformDelta] = []
        self._events: list[AnomalyEvent] = []
        self._touched: set[str] = set()
        # A replay saves no state: without tracking, a flush of 1M series holds no 1M-key set.
        self._track_touched = track_touched

    # -- the verbs ---------------------------------------------------------------------------

    def observe(self, update: Update) -> list[AnomalyEvent]:
        """Take one update; return the events it let the detector decide."""
        return self.observe_many((update,))

    def observe_many(self, updates: Iterable[Update]) -> list[AnomalyEvent]:
        """Take a batch of updates; the same events as observing them one by one.

        The watermark moves once per batch: within the lateness allowance that changes nothing
        but how often series are visited, which is what makes batches fast.
        """
        series, counts = self._series, self.counts
        schedule = self._due.add
        touch, track = self._touched.add, self._track_touched
        max_ts = self._max_ts
        taken = 0
        # Iterated once, not listed: a lazy batch is taken while its updates are still in cache.
        for taken, update in enumerate(updates, 1):
            key = update.key
            if track:
                touch(key)
            state = series.get(key)
            if state is None:
                # Platforms and metrics repeat across series: one copy each (account and post are
                # read back from the key).
                state = series[key] = SeriesState(
                    key, intern(update.platform), update.account, intern(update.metric), update.post
                )
            ts = update.ts_ms
            if ts > state.tail_ts:  # in order: the common case, kept to a few operations
                state.tail_ts = ts
                pending = state.pending
                if pending:
                    pending += (ts, update.value)
                else:  # released series share one empty tuple: a list only while updates wait
                    state.pending = [ts, update.value]
                if state.due_ms < 0:
                    state.due_ms = ts
                    schedule(ts, key)
            else:
                self._accept_out_of_order(state, ts, update.value)
            if ts > max_ts:
                max_ts = ts
        counts.updates += taken
        self._max_ts = max_ts
        mark = max_ts - self.config.lateness_ms
        if mark > self._watermark:
            self._watermark = mark
            self._release(mark)
            if mark // MINUTE_MS != self._platform_minute:
                self._advance_platforms()
        return self._drain()

    def advance(self, watermark_ms: int) -> list[AnomalyEvent]:
        """Move event time forward without data (idle partitions, end of a file)."""
        if watermark_ms > self._watermark:
            self._watermark = watermark_ms
            self._release(watermark_ms)
        self._advance_platforms()
        return self._drain()

    def flush(self) -> list[AnomalyEvent]:
        """Everything is in (end of a replay): decide up to the newest event time seen."""
        return self.advance(self._max_ts)

    # -- inspection --------------------------------------------------------------------------

    @property
    def watermark_ms(self) -> int:
        return self._watermark

    @property
    def series_count(self) -> int:
        return len(self._series)

    def export_series(self, key: str) -> SeriesState | None:
        """The live state of a known series (owned by the detector: encode it, don't keep it)."""
        return self._series.get(key)

    def import_series(self, state: SeriesState) -> None:
        """Adopt a saved series state (a worker restarting), scheduled again when it is due."""
        self._series[state.key] = state
        if state.due_ms >= 0:
            self._due.add(state.due_ms, state.key)

    def touched_keys(self) -> set[str]:
        """Series whose state changed since the last call: what a worker must save."""
        touched, self._touched = self._touched, set()
        return touched

    def take_platform_deltas(self) -> list[PlatformDelta]:
        """The platform contributions made since the last call (worker mode)."""
        deltas, self._deltas = self._deltas, []
        return deltas

    # -- internals ---------------------------------------------------------------------------

    def _accept_out_of_order(self, state: SeriesState, ts: int, value: float) -> None:
        """An update older than one already taken: too late, a duplicate, or slotted in."""
        if ts <= state.last_ts:
            if ts == state.last_ts:
                self.counts.duplicates += 1
            else:
                self.counts.too_late += 1
            return
        pending = state.pending
        at = 2 * bisect.bisect_left(pending[0::2], ts)  # pending is [ts, value, ts, value, ...]
        if at < len(pending) and pending[at] == ts:
            self.counts.duplicates += 1
            if value > pending[at + 1]:  # conflicting copies: keep the larger, whatever the order
                pending[at + 1] = value
            return
        if pending:
            pending[at:at] = (ts, value)
        else:
            state.pending = [ts, value]
        if state.due_ms < 0 or ts < state.due_ms:
            state.due_ms = ts
            self._due.add(ts, state.key)

    def _release(self, watermark: int) -> None:
        series = self._series
        for due_ms, key in self._due.take_until(watermark):
            state = series.get(key)
            if state is not None and state.due_ms == due_ms:
                self._release_series(state, watermark)

    def _release_series(self, state: SeriesState, watermark: int) -> None:
        if self._track_touched:
            self._touched.add(state.key)
        pending = state.pending
        if not pending:  # only a hold to expire
            items = pending
        elif pending[-2] <= watermark:
            items, state.pending = pending, NO_PENDING
        else:
            taken = 2 * bisect.bisect_right(pending[0::2], watermark)
            items = pending[:taken]
            del pending[:taken]
        if items:
            if items[-2] // HOUR_MS != state.epoch:  # epoch is an applied, so earlier, update's hour
                self._count_active(state, items[0::2])
            for outcome in step_many_flat(state, items, self.config):
                self._record(state, outcome)
        pending = state.pending
        due_ms = pending[0] if pending else -1
        if state.phase == DIPPING:
            # No observation since the hold ended: silence past the cadence is the evidence.
            deadline = quiet_deadline_ms(state)
            if deadline <= watermark:
                self._record(state, expire_hold(state, deadline, quiet=True))
            elif due_ms < 0 or deadline < due_ms:
                due_ms = deadline
        state.due_ms = due_ms
        if due_ms >= 0:
            self._due.add(due_ms, state.key)

    def _count_active(self, state: SeriesState, times: list[int]) -> None:
        """A series counts once per hour it reports in towards its platform's active series."""
        at = 0
        while at < len(times):  # in time order: only the first update of each hour can count
            ts = times[at]
            hour = ts // HOUR_MS
            if hour != state.epoch:
                state.epoch = hour
                self._deltas.append(PlatformDelta("active", state.platform, state.metric, hour * HOUR_MS, ts))
            at = bisect.bisect_left(times, (hour + 1) * HOUR_MS, at + 1)

    def _record(self, state: SeriesState, outcome: Outcome | None) -> None:
        while outcome is not None:
            bucket = outcome.onset_ms // MINUTE_MS * MINUTE_MS
            if outcome.kind != "stall":
                self._deltas.append(
                    PlatformDelta(
                        outcome.kind, state.platform, state.metric, bucket,
                        outcome.onset_ms if outcome.kind == "opened" else outcome.at_ms,
                        outcome.baseline, outcome.low, outcome.cause.value,
                    )  # fmt: skip
                )
            kind = _EVENT_KINDS.get(outcome.kind)
            if kind is not None:
                self._events.append(_series_event(state, kind, outcome))
            outcome = outcome.then

    def _advance_platforms(self) -> None:
        """Feed platform deltas to the in-process aggregator (observe_many: once per watermark minute)."""
        platforms = self.platforms
        if platforms is None:
            return
        self._platform_minute = self._watermark // MINUTE_MS
        for delta in self._deltas:
            platforms.add(delta)
        self._deltas.clear()
        self._events.extend(platforms.advance(self._watermark))

    def _drain(self) -> list[AnomalyEvent]:
        if not self._events:
            return []
        events, self._events = self._events, []
        events.sort(key=AnomalyEvent.sort_key)
        return events


def _series_event(state: SeriesState, kind: Kind, outcome: Outcome) -> AnomalyEvent:
    who = state.key
    message = describe(
        kind, who, outcome.baseline, outcome.low, outcome.onset_ms, outcome.at_ms, outcome.cause,
        quiet=outcome.quiet,
    )
    evidence = None
    if kind is Kind.SUSTAINED_DROP:
        evidence = Evidence.QUIET if outcome.quiet else Evidence.OBSERVED
    return AnomalyEvent(
        kind, Scope.SERIES, state.platform, state.account, state.metric, state.post,
        outcome.onset_ms, outcome.at_ms, outcome.baseline, outcome.low, outcome.cause, message,
        evidence=evidence,
    )  # fmt: skip
