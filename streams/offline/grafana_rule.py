"""The alert a team would write in Grafana today, simulated on updates to score beside the detector.

The rule: "last value below `threshold` x the max of the previous `lookback_ms`, for a pending period".
Grafana evaluates it every `eval_interval_ms` (times aligned to the interval) per series on the data with
``ts <= t``: condition = last < threshold x max(values with ts in (t - lookback, t]); an empty range is
no data and counts as false. States: Normal -> Pending when the condition turns true (onset: the first
low observation), Pending -> Firing once it has been true for ``pending_ms`` (pending 0 fires at once;
emits a ``sustained_drop``), Firing -> Normal when false (emits a ``recovery``), Pending -> Normal silently.
A series is evaluated from its first update until its last update + lookback, holding its last value
as Grafana's ``last()`` over the range would.

The state can only change when a point enters the range, when the range's max leaves it, or when a
pending period runs out, so only those evaluation times are visited: the same result as evaluating every
interval, in time linear in the number of updates.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from streams.formats.codec import event_to_dict
from streams.engine.config import MINUTE_MS
from streams.engine.types import AnomalyEvent, Cause, Kind, Scope, Update

NORMAL, PENDING, FIRING = "normal", "pending", "firing"


@dataclass
class _RuleState:
    """One series' alert state between evaluations."""

    pending_ms: int
    state: str = NORMAL
    pending_since_ms: int = 0
    onset_ms: int = 0
    baseline: float = 0.0
    low: float = 0.0


@dataclass
class _Range:
    """The points with ts in (t - lookback, t], as a monotonic deque of indices for the running max."""

    times: list[int]
    values: list[float]
    lookback_ms: int
    next_index: int = 0
    maxima: deque[int] = field(default_factory=deque)

    def advance(self, t_ms: int) -> range:
        """Move the range to end at `t_ms`; returns the indices of the points that entered it."""
        first_entered = self.next_index
        times, values, maxima = self.times, self.values, self.maxima
        while self.next_index < len(times) and times[self.next_index] <= t_ms:
            index = self.next_index
            while maxima and values[maxima[-1]] <= values[index]:
                maxima.pop()
            maxima.append(index)
            self.next_index += 1
        while maxima and times[maxima[0]] <= t_ms - self.lookback_ms:
            maxima.popleft()
        return range(first_entered, self.next_index)

    def last_and_max(self) -> tuple[float, float] | None:
        # The newest point always sits at the back of the deque; an empty deque is Grafana's "no data".
        if not self.maxima:
            return None
        return self.values[self.maxima[-1]], self.values[self.maxima[0]]

    def next_change_ms(self) -> int | None:
        """Event time of the next point arriving or of the current max leaving the range."""
        expiry_ms = self.times[self.maxima[0]] + self.lookback_ms if self.maxima else None
        if self.next_index == len(self.times):
            return expiry_ms
        arrival_ms = self.times[self.next_index]
        return arrival_ms if expiry_ms is None else min(arrival_ms, expiry_ms)


def _align_up(ms: int, interval_ms: int) -> int:
    return -(-ms // interval_ms) * interval_ms


def _event(first: Update, kind: Kind, rule: _RuleState, decided_ms: int) -> dict[str, object]:
    if kind is Kind.SUSTAINED_DROP:
        message = (
            f"Grafana rule: {first.key} at {rule.low:g}, below 98% of the hour max {rule.baseline:g}"
            f" for {rule.pending_ms // MINUTE_MS} min"
        )
    else:
        message = f"Grafana rule: {first.key} resolved, back within 98% of the hour max"
    anomaly = AnomalyEvent(
        kind, Scope.SERIES, first.platform, first.account, first.metric, first.post,
        rule.onset_ms, decided_ms, rule.baseline, rule.low, Cause.UNKNOWN, message,
    )  # fmt: skip
    return event_to_dict(anomaly)


def _first_low_ms(points: _Range, entered: range, limit: float) -> int:
    """Onset: the earliest newly arrived point below the limit (the newest one is, or we would not be here)."""
    for index in entered:
        if points.values[index] < limit:
            return points.times[index]
    return points.times[points.maxima[-1]]


def _step(rule: _RuleState, points: _Range, entered: range, t_ms: int, threshold: float) -> Kind | None:
    """One evaluation at `t_ms`: move the state machine, return the kind of event to emit, if any."""
    reading = points.last_and_max()
    if reading is None or not reading[0] < threshold * reading[1]:
        was_firing = rule.state == FIRING
        rule.state = NORMAL
        return Kind.RECOVERY if was_firing else None
    last, maximum = reading
    if rule.state == NORMAL:
        rule.state, rule.pending_since_ms = PENDING, t_ms
        rule.onset_ms, rule.low = _first_low_ms(points, entered, threshold * maximum), last
    rule.low = min(rule.low, last)
    if rule.state == PENDING and t_ms - rule.pending_since_ms >= rule.pending_ms:
        rule.state, rule.baseline = FIRING, maximum
        return Kind.SUSTAINED_DROP
    return None


def _next_evaluation_ms(rule: _RuleState, points: _Range, interval_ms: int) -> int | None:
    """The next evaluation time at which the state may change (None: never); the others repeat this one."""
    change_ms = points.next_change_ms()
    if rule.state == PENDING:
        deadline_ms = rule.pending_since_ms + rule.pending_ms
        change_ms = deadline_ms if change_ms is None else min(change_ms, deadline_ms)
    return None if change_ms is None else _align_up(change_ms, interval_ms)


def _series_events(
    first: Update, points: list[tuple[int, float]], pending_ms: int, threshold: float, lookback_ms: int,
    interval_ms: int,
) -> list[tuple[int, dict[str, object]]]:  # fmt: skip
    """Run the rule over one series' points sorted by time; each event with its decided time."""
    window = _Range([ts for ts, _ in points], [value for _, value in points], lookback_ms)
    rule = _RuleState(pending_ms)
    events = []
    t_ms: int | None = _align_up(points[0][0], interval_ms)
    end_ms = points[-1][0] + lookback_ms
    while t_ms is not None and t_ms < end_ms:
        entered = window.advance(t_ms)
        kind = _step(rule, window, entered, t_ms, threshold)
        if kind is not None:
            events.append((t_ms, _event(first, kind, rule, t_ms)))
        t_ms = _next_evaluation_ms(rule, window, interval_ms)
    return events


def grafana_rule_events(
    updates: Iterable[Update],
    pending_ms: int,
    threshold: float = 0.98,
    lookback_ms: int = 3_600_000,
    eval_interval_ms: int = 60_000,
) -> list[dict[str, object]]:
    """The rule's firing (`sustained_drop`) and resolved (`recovery`) events, ordered by (decided, series).

    >>> minutes = [(0, 100.0), (1, 100.0), (2, 90.0), (3, 90.0), (4, 100.0)]
    >>> ups = [Update("x", "a", "likes", None, v, m * 60_000) for m, v in minutes]
    >>> [(e["kind"], e["onset"][11:16], e["decided"][11:16]) for e in grafana_rule_events(ups, 0)]
    [('sustained_drop', '00:02', '00:02'), ('recovery', '00:02', '00:04')]
    >>> grafana_rule_events(ups, 5 * 60_000)
    []
    """
    if pending_ms < 0 or eval_interval_ms <= 0 or lookback_ms <= 0:
        raise ValueError("pending_ms must be >= 0, eval_interval_ms and lookback_ms > 0")
    first_update: dict[str, Update] = {}
    points: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for update in updates:
        first_update.setdefault(update.key, update)
        points[update.key].append((update.ts_ms, update.value))
    timed: list[tuple[int, str, dict[str, object]]] = []
    for key, series_points in points.items():
        series_points.sort(key=lambda point: point[0])  # stable: of equal times, the later arrival is last
        found = _series_events(first_update[key], series_points, pending_ms, threshold, lookback_ms, eval_interval_ms)
        timed += [(decided_ms, key, event) for decided_ms, event in found]
    timed.sort(key=lambda entry: (entry[0], entry[1]))
    return [event for _, _, event in timed]
