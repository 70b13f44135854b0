"""`dipwatch demo`: a simulated live stream through the engine, shown as it happens."""

from __future__ import annotations

import time
from collections import Counter, deque
from typing import Annotated

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from streams.cli.errors import one_line_errors
from streams.cli.offline import evaluate_lines
from streams.cli.tables import render_table
from streams.codec import decode_line, format_time
from streams.engine import AnomalyEvent, Detector, DetectorConfig, Kind, Scope, Update
from streams.simulate import SimulationSpec, simulate

_BARS = "▁▂▃▄▅▆▇█"
_STYLES = {
    Kind.GLITCH: ("glitch", "yellow"),
    Kind.SUSTAINED_DROP: ("PAGE", "bold red"),
    Kind.RECOVERY: ("recovery", "green"),
    Kind.GROWTH_STALL: ("stall", "cyan"),
}
_SHOWN = 14  # events kept on screen
_HISTORY = 32  # values per series kept for the sparklines


def sparkline(values: list[float]) -> str:
    """A tiny picture of a series: the drop is easier to see than to read.

    >>> sparkline([10, 10, 10, 0, 0, 10])
    '███▁▁█'
    """
    if not values:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    return "".join(_BARS[int((v - low) / span * (len(_BARS) - 1))] for v in values)


class _Screen:
    """What the demo shows: counters, the clock, and the latest decisions with their pictures."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.clock_ms = 0
        self.updates = 0
        self.recent: deque[tuple[AnomalyEvent, str]] = deque(maxlen=_SHOWN)
        self.history: dict[str, deque[float]] = {}

    def remember(self, updates: list[Update]) -> None:
        for update in updates:
            series = self.history.get(update.key)
            if series is None:
                series = self.history[update.key] = deque(maxlen=_HISTORY)
            series.append(update.value)
        self.updates += len(updates)

    def record(self, events: list[AnomalyEvent]) -> None:
        for event in events:
            label = ("platform " if event.scope is Scope.PLATFORM else "") + event.kind.value
            self.counts[label] += 1
            picture = sparkline(list(self.history.get(event.series, ())))
            self.recent.append((event, picture))

    def render(self) -> Group:
        header = Text.assemble(
            ("event time ", "dim"), (format_time(self.clock_ms) if self.clock_ms else "—", "bold"),
            ("   updates ", "dim"), (f"{self.updates:,}", "bold"),
            ("   series ", "dim"), (f"{len(self.history):,}", "bold"),
        )  # fmt: skip
        tally = "   ".join(f"{name}: {count}" for name, count in sorted(self.counts.items()))
        table = Table(expand=True, show_edge=False)
        for column in ("decided", "what", "series", "drop", "recent values", "why"):
            table.add_column(column, no_wrap=column != "why", overflow="fold")
        for event, picture in self.recent:
            name, style = _STYLES[event.kind]
            if event.scope is Scope.PLATFORM:
                name, style = f"PLATFORM {name}", "bold magenta"
                picture = f"{event.affected} of {event.of} series"
            table.add_row(
                format_time(event.decided_ms)[11:16], Text(name, style=style), event.series,
                f"{event.drop_pct:.1f}%", picture, event.cause.value,
            )  # fmt: skip
        return Group(Panel(Group(header, Text(tally or "nothing yet", style="dim")), title="dipwatch demo"), table)


def demo_command(
    seed: Annotated[int, typer.Option(help="Seed of the simulated stream.")] = 7,
    accounts: Annotated[int, typer.Option(min=10, max=5_000, help="Accounts to simulate.")] = 120,
    hours: Annotated[float, typer.Option(min=4, max=72, help="Hours of event time.")] = 12.0,
    speed: Annotated[
        float, typer.Option(min=60, help="Event-time seconds shown per real second.")
    ] = 2_400.0,
) -> None:
    """Simulate a live stream at an accelerated clock and watch dipwatch decide, then score it."""
    with one_line_errors():
        console = Console()
        with console.status("simulating a stream"):
            simulation = simulate(SimulationSpec(seed=seed, accounts=accounts, hours=hours))
        _play(console, simulation.lines, speed)
        console.print(render_table(evaluate_lines(simulation.lines, simulation.truth, DetectorConfig())))


def _play(console: Console, lines: list[bytes], speed: float) -> None:
    """Feed the stream in arrival order, one slice of event time per frame."""
    updates = [u for u in map(decode_line, lines) if type(u) is Update]
    detector = Detector(DetectorConfig())
    screen = _Screen()
    frame_s = 0.1
    step_ms = int(speed * frame_s * 1000)
    with Live(screen.render(), console=console, refresh_per_second=10) as live:
        start, index = updates[0].ts_ms if updates else 0, 0
        horizon = start
        while index < len(updates):
            horizon += step_ms
            batch = []
            while index < len(updates) and updates[index].ts_ms <= horizon:
                batch.append(updates[index])
                index += 1
            screen.remember(batch)
            screen.record(detector.observe_many(batch))
            screen.clock_ms = horizon
            live.update(screen.render())
            time.sleep(frame_s)
        screen.record(detector.flush())
        live.update(screen.render())


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)
