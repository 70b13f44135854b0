"""The engine's vocabulary: updates in, anomaly events out (see the data contract)."""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass
from enum import Enum


class Kind(str, Enum):
    """What an anomaly event says happened."""

    GLITCH = "glitch"
    SUSTAINED_DROP = "sustained_drop"
    RECOVERY = "recovery"
    GROWTH_STALL = "growth_stall"


class Scope(str, Enum):
    """One series, or many series of one platform and metric at once."""

    SERIES = "series"
    PLATFORM = "platform"


class Cause(str, Enum):
    """The best hint at why a count moved; `outage` extends the contract's list."""

    GLITCH = "glitch"
    DELAY = "delay"
    PURGE = "purge"
    REMOVAL = "removal"
    ATTRITION = "attrition"
    REACH = "reach"
    OUTAGE = "outage"
    UNKNOWN = "unknown"


class Evidence(str, Enum):
    """What a series page rests on: an observation after the hold that still showed the drop, or
    the series' silence after the hold for longer than its cadence allows (the data went quiet)."""

    OBSERVED = "observed"
    QUIET = "quiet"


def series_key(platform: str, account: str, metric: str, post: str | None) -> str:
    """The contract's message key, `platform/account/metric[/post]`.

    >>> series_key("x", "acme", "likes", "p1")
    'x/acme/likes/p1'
    >>> series_key("x", "acme", "followers", None)
    'x/acme/followers'
    """
    if post is None:
        return f"{platform}/{account}/{metric}"
    return f"{platform}/{account}/{metric}/{post}"


_UpdateFields = namedtuple(
    "_UpdateFields", ("platform", "account", "metric", "post", "value", "ts_ms", "key")
)


class Update(_UpdateFields):
    """One validated observation of a series: the count shown at event time `ts_ms`.

    A tuple underneath: millions are built per second on the hot path, and a tuple is the
    cheapest object Python builds; `key` is the series key, computed once here.

    >>> Update("x", "acme", "followers", None, 1200.0, 60_000).key
    'x/acme/followers'
    """

    __slots__ = ()

    def __new__(
        cls, platform: str, account: str, metric: str, post: str | None, value: float, ts_ms: int
    ) -> Update:
        key = series_key(platform, account, metric, post)
        return tuple.__new__(cls, (platform, account, metric, post, value, ts_ms, key))

    def __repr__(self) -> str:
        return f"Update({self.key!r}, value={self.value!r}, ts_ms={self.ts_ms!r})"


@dataclass(frozen=True, slots=True)
class AnomalyEvent:
    """One decision of the engine, as in the contract's output table (times in epoch ms)."""

    kind: Kind
    scope: Scope
    platform: str
    account: str | None
    metric: str
    post: str | None
    onset_ms: int
    decided_ms: int
    baseline: float
    low: float
    cause: Cause
    message: str
    affected: int | None = None
    of: int | None = None
    evidence: Evidence | None = None  # series pages only

    @property
    def drop(self) -> float:
        return self.baseline - self.low

    @property
    def drop_pct(self) -> float:
        return 100.0 * self.drop / self.baseline if self.baseline > 0 else 0.0

    @property
    def series(self) -> str:
        """The series key, or `platform/metric` for a platform incident."""
        if self.scope is Scope.PLATFORM or self.account is None:
            return f"{self.platform}/*/{self.metric}"
        return series_key(self.platform, self.account, self.metric, self.post)

    @property
    def incident_id(self) -> str:
        """Deterministic identity of the incident (series, onset): the same on every replay or restart."""
        return f"{self.series}@{self.onset_ms}"

    @property
    def event_id(self) -> str:
        """Deterministic identity of this event: incident plus kind, so sinks can de-duplicate."""
        return f"{self.incident_id}:{self.kind.value}"

    def sort_key(self) -> tuple[int, str, str]:
        return (self.decided_ms, self.series, self.kind.value)
