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

from streams.cli.errors import one_line_errors, stderr
from streams.offline.compare import evaluate_lines
from streams.cli.tables import render_table, verdict
from streams.formats.codec import decode_line, format_time
from streams.engine import AnomalyEvent, Detector, DetectorConfig, Kind, Scope, Update
from streams.offline.evaluate import Scores, targets_met
from streams.offline.simulate import SimulationSpec, simulate

_BARS = "▁▂▃▄▅▆▇█"
_STYLES = {
    Kind.GLITCH: ("glitch", "yellow"),
    Kind.SUSTAINED_DROP: ("PAGE", "bold red"),
    Kind.RECOVERY: ("recovery", "green"),
    Kind.GROWTH_STALL: ("stall", "cyan"),
}
_SHOWN = 14  # events kept on screen
_HISTORY = 32  # values per series kept for the sparklines
#: Extra columns and the terminal width from which each is shown: 80 columns fit time, what,
#: series, drop and cause; wider terminals get the recent values as a sparkline.
_SPARK_FROM_WIDTH = 110


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

    def render(self, width: int = 80) -> Group:
        header = Text.assemble(
            ("event time ", "dim"), (format_time(self.clock_ms)[:16].replace("T", " ") if self.clock_ms else "—", "bold"),
            ("  updates ", "dim"), (f"{self.updates:,}", "bold"),
            ("  series ", "dim"), (f"{len(self.history):,}", "bold"),
        )  # fmt: skip
        tally = "  ".join(f"{name} {count}" for name, count in sorted(self.counts.items()))
        wide = width >= _SPARK_FROM_WIDTH
        table = Table(expand=True, show_edge=False, pad_edge=False)
        table.add_column("time", no_wrap=True)
        table.add_column("what", no_wrap=True)
        table.add_column("series", overflow="fold", ratio=1)  # a long name wraps, never loses its end
        table.add_column("drop", justify="right", no_wrap=True)
        table.add_column("cause", no_wrap=True)
        if wide:
            table.add_column("recent values", no_wrap=True)
        for event, picture in self.recent:
            name, style = _STYLES[event.kind]
            series = event.series
            if event.scope is Scope.PLATFORM:
                name, style = f"PLATFORM {name}", "bold magenta"
                series = f"{event.platform} {event.metric}: {event.affected} of {event.of}"
                picture = ""
            cells = [format_time(event.decided_ms)[11:16], Text(name, style=style), series,
                     f"{event.drop_pct:.0f}%", event.cause.value]  # fmt: skip
            table.add_row(*cells, *([picture] if wide else []))
        return Group(Panel(Group(header, Text(tally or "nothing yet", style="dim")), title="dipwatch demo"), table)


def demo_command(
    seed: Annotated[int, typer.Option(help="Seed of the simulated stream.")] = 7,
    accounts: Annotated[int, typer.Option(min=10, max=5_000, help="Accounts to simulate.")] = 120,
    hours: Annotated[float, typer.Option(min=4, max=72, help="Hours of event time.")] = 12.0,
    speed: Annotated[
        float, typer.Option(min=60, help="Seconds of event time played per real second: 2400 plays 40 min of the stream each second.")
    ] = 2_400.0,
) -> None:
    """Simulate a live stream at an accelerated clock and watch dipwatch decide, then score it."""
    with one_line_errors():
        console = Console()
        with console.status("simulating a stream"):
            simulation = simulate(SimulationSpec(seed=seed, accounts=accounts, hours=hours))
        screen = _play(console, simulation.lines, speed)
        # Keep the last frame and the table apart; piped, rich ends the frame without its newline.
        console.line(1 if console.is_terminal else 2)
        results = evaluate_lines(simulation.lines, simulation.truth, DetectorConfig(), stage=stderr.status)
        console.print(render_table(results, console.width))
        summary, command = closing_words(screen, results, seed, accounts, hours)
        console.print(summary)
        console.print("Next, every incident plotted in one page:")
        console.print(command, style="bold", soft_wrap=True, highlight=False)  # one line: it is to be copied


def closing_words(screen: _Screen, results: list[Scores], seed: int, accounts: int, hours: float) -> tuple[Text, str]:
    """What the run showed, in one sentence beside the Grafana rule, with its verdict; and the
    command that shows the same stream as a report."""
    ours = results[0]
    rule = next((r for r in results if r.detector == "grafana 5m"), results[-1])
    glitches = screen.counts.get(Kind.GLITCH.value, 0)
    platform = sum(n for name, n in screen.counts.items() if name == "platform sustained_drop")
    shown = (
        f"In {hours:g} h of {accounts} simulated accounts dipwatch paged {ours.pages} times, raised "
        f"{platform} platform incidents and showed {glitches} glitches without paging; the usual Grafana "
        f"rule held 5 min would have paged {rule.pages} times. "
    )
    command = (f"dipwatch simulate --seed {seed} --accounts {accounts} --hours {hours:g} --start fixed --out out && "
               "dipwatch report out/events.jsonl --truth out/truth.json --out report.html")  # fmt: skip
    summary = Text.assemble(shown, (verdict(ours), "bold green" if all(targets_met(ours).values()) else "bold red"))
    return summary, command


def _play(console: Console, lines: list[bytes], speed: float) -> _Screen:
    """Feed the stream in arrival order, one slice of event time per frame."""
    updates = [u for u in map(decode_line, lines) if type(u) is Update]
    detector = Detector(DetectorConfig())
    screen = _Screen()
    frame_s = 0.1
    step_ms = int(speed * frame_s * 1000)
    with Live(screen.render(console.width), console=console, refresh_per_second=10) as live:
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
            live.update(screen.render(console.width))
            time.sleep(frame_s)
        screen.record(detector.flush())
        live.update(screen.render(console.width))
    return screen


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)
