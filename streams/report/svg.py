"""A small time-series chart drawn as inline SVG: lines, shaded bands, vertical marks, axes.

No plotting library: the report must open offline, stay small, and render a thousand plots in
seconds, and what it draws (a count, a few bands and marks) is a few hundred lines of markup.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html import escape

MINUTE_MS = 60_000
#: Candidate spacings of time ticks; the first giving at most `_MAX_TICKS` ticks wins.
_TICK_STEPS_MS = tuple(m * MINUTE_MS for m in (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 10080))
_MAX_TICKS = 7
_PAD_LEFT, _PAD_RIGHT, _PAD_TOP, _PAD_BOTTOM = 58, 10, 22, 30
Scale = Callable[[float], float]  # a time or a value to its pixel position


@dataclass(frozen=True)
class Line:
    """A polyline of (time ms, value) points; `step` draws it as a staircase (counts of series)."""

    points: list[tuple[int, float]]
    css: str
    label: str
    step: bool = False


@dataclass(frozen=True)
class Band:
    """A shaded time range (a hold window, a glitch) with a label for the legend."""

    start_ms: int
    end_ms: int
    css: str
    label: str


@dataclass(frozen=True)
class Mark:
    """A vertical line at one moment (onset, page, recovery), labelled on the chart."""

    at_ms: int
    css: str
    label: str


@dataclass
class Chart:
    """Everything one plot shows; `render()` gives the SVG element."""

    start_ms: int
    end_ms: int
    lines: list[Line] = field(default_factory=list)
    bands: list[Band] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    width: int = 640
    height: int = 190
    title: str = ""

    def render(self, element_id: str = "") -> str:
        values = [v for line in self.lines for _, v in line.points]
        low, high = _value_range(values)
        span_ms = max(1, self.end_ms - self.start_ms)
        plot_w = self.width - _PAD_LEFT - _PAD_RIGHT
        plot_h = self.height - _PAD_TOP - _PAD_BOTTOM

        def x(ms: float) -> float:
            return _PAD_LEFT + (min(max(ms, self.start_ms), self.end_ms) - self.start_ms) * plot_w / span_ms

        def y(value: float) -> float:
            return _PAD_TOP + plot_h - (value - low) * plot_h / (high - low)

        parts = [_frame(plot_w, plot_h)]
        parts += [_band(b, x, plot_h) for b in self.bands if b.end_ms > self.start_ms and b.start_ms < self.end_ms]
        parts += _value_axis(low, high, y, plot_w)
        parts += _time_axis(self.start_ms, self.end_ms, x, plot_h)
        parts += [_polyline(line, x, y) for line in self.lines if line.points]
        shown = [m for m in self.marks if self.start_ms <= m.at_ms <= self.end_ms]
        parts += [_mark(m, x, plot_h, n, self.width) for n, m in enumerate(shown)]
        points = sum(len(line.points) for line in self.lines)
        attrs = f' id="{escape(element_id)}"' if element_id else ""
        return (
            f'<svg class="plot"{attrs} data-points="{points}" viewBox="0 0 {self.width} {self.height}" '
            f'width="{self.width}" height="{self.height}" role="img" aria-label="{escape(self.title)}">'
            f"<title>{escape(self.title)}</title>{''.join(parts)}</svg>"
        )


def _value_range(values: list[float]) -> tuple[float, float]:
    if not values:
        return 0.0, 1.0
    low, high = min(values), max(values)
    pad = (high - low) * 0.08 or max(abs(high) * 0.05, 1.0)
    return max(0.0, low - pad) if low >= 0 else low - pad, high + pad


def compact(value: float) -> str:
    """A count as people say it: 950, 12.3k, 1.25M.

    >>> compact(950), compact(12_345), compact(1_250_000), compact(0.5)
    ('950', '12.3k', '1.25M', '0.5')
    """
    magnitude = abs(value)
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if magnitude >= size:
            text = f"{value / size:.3g}"
            return text + suffix
    return f"{value:.3g}" if magnitude < 100 else f"{value:.0f}"


def clock_label(ms: int, with_date: bool) -> str:
    """HH:MM, with the day in front where it changes.

    >>> clock_label(1795694400000, False), clock_label(1795694400000, True)
    ('12:00', '26 Nov 12:00')
    """
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return moment.strftime("%d %b %H:%M" if with_date else "%H:%M")


def _frame(plot_w: float, plot_h: float) -> str:
    return f'<rect class="frame" x="{_PAD_LEFT}" y="{_PAD_TOP}" width="{plot_w:.1f}" height="{plot_h:.1f}"/>'


def _band(band: Band, x: Scale, plot_h: float) -> str:
    left, right = x(band.start_ms), x(band.end_ms)
    return (
        f'<rect class="band {band.css}" x="{left:.1f}" y="{_PAD_TOP}" width="{max(right - left, 1.5):.1f}" '
        f'height="{plot_h:.1f}"><title>{escape(band.label)}</title></rect>'
    )


def nice_ticks(low: float, high: float, most: int = 5) -> list[float]:
    """Round values to label a value axis: steps of 1, 2 or 5 times a power of ten.

    >>> nice_ticks(0, 11.9), nice_ticks(15_100_000, 17_300_000)
    ([0, 5, 10], [15500000, 16000000, 16500000, 17000000])
    """
    span = high - low
    if span <= 0:
        return [low]
    raw = span / most
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step) * step
    return [first + n * step for n in range(int((high - first) / step) + 1)]


def _value_axis(low: float, high: float, y: Scale, plot_w: float) -> list[str]:
    parts = []
    for value in nice_ticks(low, high):
        top = y(value)
        parts.append(
            f'<line class="grid" x1="{_PAD_LEFT}" x2="{_PAD_LEFT + plot_w:.1f}" y1="{top:.1f}" y2="{top:.1f}"/>'
            f'<text class="tick" x="{_PAD_LEFT - 4}" y="{top + 3:.1f}" text-anchor="end">{compact(value)}</text>'
        )
    return parts


def _time_axis(start_ms: int, end_ms: int, x: Scale, plot_h: float) -> list[str]:
    span = end_ms - start_ms
    step = next((s for s in _TICK_STEPS_MS if span / s <= _MAX_TICKS), _TICK_STEPS_MS[-1])
    first = -(-start_ms // step) * step
    parts, last_day = [], None
    bottom = _PAD_TOP + plot_h
    for tick in range(first, end_ms + 1, step):
        day = tick // (1440 * MINUTE_MS)
        left = x(tick)
        parts.append(
            f'<line class="grid" x1="{left:.1f}" x2="{left:.1f}" y1="{_PAD_TOP}" y2="{bottom:.1f}"/>'
            f'<text class="tick" x="{left:.1f}" y="{bottom + 13:.1f}" text-anchor="middle">'
            f"{clock_label(tick, day != last_day)}</text>"
        )
        last_day = day
    return parts


def _polyline(line: Line, x: Scale, y: Scale) -> str:
    coords = []
    previous: float | None = None
    for ms, value in line.points:
        if line.step and previous is not None:
            coords.append(f"{x(ms):.1f},{y(previous):.1f}")
        coords.append(f"{x(ms):.1f},{y(value):.1f}")
        previous = value
    return (
        f'<polyline class="line {line.css}" points="{" ".join(coords)}">'
        f"<title>{escape(line.label)}</title></polyline>"
    )


def _mark(mark: Mark, x: Scale, plot_h: float, index: int, width: int) -> str:
    left = x(mark.at_ms)
    label_y = 9 if index % 2 == 0 else 19  # two rows above the frame: close marks do not overprint
    anchor = "end" if left > width - 90 else "start"
    return (
        f'<line class="mark {mark.css}" x1="{left:.1f}" x2="{left:.1f}" y1="{_PAD_TOP}" '
        f'y2="{_PAD_TOP + plot_h:.1f}"><title>{escape(mark.label)}</title></line>'
        f'<text class="mark-label {mark.css}" x="{left + (3 if anchor == "start" else -3):.1f}" '
        f'y="{label_y}" text-anchor="{anchor}">{escape(mark.label)}</text>'
    )
