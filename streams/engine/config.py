"""DetectorConfig: every detection parameter, its default and its allowed range, in one place."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    """Parameters of the detector; frozen, validated on construction.

    >>> DetectorConfig().hold_ms // MINUTE_MS
    15
    >>> DetectorConfig(min_drop_pct=-1)
    Traceback (most recent call last):
    ...
    ValueError: min_drop_pct must be in [0.01, 99.0], got -1
    """

    #: A drop is judged by the first observation after this much event time, counted in polls of
    #: the series' own cadence (streams/engine/cadence.py).
    hold_ms: int = 15 * MINUTE_MS
    #: A drop counts when it is at least this % of the baseline ...
    min_drop_pct: float = 2.0
    #: ... and at least this many counts.
    min_drop_abs: float = 20.0
    #: Share of the loss that must come back for a glitch or a recovery.
    recover_fraction: float = 0.8
    #: A drop must also exceed this many times the series' usual jitter between updates.
    noise_factor: float = 4.0
    #: A drop must also exceed this many display steps (1.25M shows steps of 10k).
    rounding_factor: float = 2.0
    #: Updates a series needs before it may raise anything.
    warmup_updates: int = 3
    #: Updates may arrive this late (event time behind the newest seen) and still count.
    lateness_ms: int = 5 * MINUTE_MS
    #: The hold counts from the last normal observation before the drop (one poll back), at most this far back.
    hold_backdate_max_ms: int = 2 * MINUTE_MS
    #: A page that has not recovered after this long is silently accepted as the new level (no event).
    settle_ms: int = 48 * HOUR_MS
    #: Growth is compared window against window of this length.
    stall_window_ms: int = 2 * HOUR_MS
    #: A window growing by less than this share of the one before is a stall.
    stall_ratio: float = 0.2
    #: Drops of one platform and metric whose onsets fall within this window are grouped.
    platform_window_ms: int = 5 * MINUTE_MS
    #: A platform incident needs at least this many series ...
    platform_min_series: int = 5
    #: ... and at least this share of the platform's active series.
    platform_min_fraction: float = 0.2

    def __post_init__(self) -> None:
        for name, (low, high) in _RANGES.items():
            value = getattr(self, name)
            if not (low <= value <= high):
                raise ValueError(f"{name} must be in [{low}, {high}], got {value}")

    @classmethod
    def from_mapping(cls, values: dict[str, object]) -> DetectorConfig:
        """Build from a plain mapping, rejecting unknown names."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown detector parameter(s): {', '.join(unknown)}")
        return cls(**values)  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


_RANGES: dict[str, tuple[float, float]] = {
    "hold_ms": (MINUTE_MS, 24 * HOUR_MS),
    "min_drop_pct": (0.01, 99.0),
    "min_drop_abs": (0.0, 1e12),
    "recover_fraction": (0.5, 1.0),
    "noise_factor": (0.0, 100.0),
    "rounding_factor": (0.0, 100.0),
    "warmup_updates": (1, 10_000),
    "lateness_ms": (0, 6 * HOUR_MS),
    "hold_backdate_max_ms": (0, HOUR_MS),
    "settle_ms": (HOUR_MS, 30 * 24 * HOUR_MS),
    "stall_window_ms": (10 * MINUTE_MS, 7 * 24 * HOUR_MS),
    "stall_ratio": (0.0, 0.9),
    "platform_window_ms": (MINUTE_MS, 6 * HOUR_MS),
    "platform_min_series": (2, 1_000_000),
    "platform_min_fraction": (0.0, 1.0),
}
