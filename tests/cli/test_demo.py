"""The demo at 80 columns: short headers, every value whole, a verdict and the next command at the end."""

from __future__ import annotations

import re

from rich.console import Console
from typer.testing import CliRunner

from streams.cli import app
from streams.cli.demo import _Screen
from streams.offline.compare import evaluate_lines
from streams.cli.tables import render_table
from streams.formats.codec import decode_line
from streams.engine import Detector, DetectorConfig, Update
from streams.offline.simulate import SimulationSpec, simulate


def screen_of(accounts: int = 20) -> tuple[_Screen, list]:
    simulation = simulate(SimulationSpec(seed=7, accounts=accounts, hours=6))
    updates = [u for u in map(decode_line, simulation.lines) if type(u) is Update]
    detector, screen = Detector(DetectorConfig()), _Screen()
    screen.remember(updates)
    events = detector.observe_many(updates) + detector.flush()
    screen.record(events)
    return screen, [e for e, _ in screen.recent]


def rendered(renderable, width: int) -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def test_live_table_at_80_columns_keeps_every_value_whole() -> None:
    screen, shown = screen_of()
    text = rendered(screen.render(80), 80)
    assert "…" not in text
    assert all(len(line) <= 80 for line in text.splitlines())
    flat = re.sub(r"\s+", "", text)  # a long series name may wrap inside its cell, never lose its end
    for event in shown:
        assert f"{event.drop_pct:.0f}%" in text
        assert event.cause.value in text
        if event.account is not None:
            assert event.series.replace(" ", "") in flat
    assert "recent values" not in text  # the sparkline needs a wider terminal


def test_wider_terminals_get_the_recent_values() -> None:
    screen, _ = screen_of()
    assert "recent values" in rendered(screen.render(140), 140)


def test_evaluation_at_80_columns_cuts_nothing() -> None:
    simulation = simulate(SimulationSpec(seed=7, accounts=20, hours=6))
    text = rendered(render_table(evaluate_lines(simulation.lines, simulation.truth, DetectorConfig()), 80), 80)
    assert "…" not in text and all(len(line) <= 80 for line in text.splitlines())
    for word in ("long glitches handled", "platform classified", "≥ 98.0 %", "= all", "≤ 15 min", "15m"):
        assert word in text


def test_piped_demo_ends_with_a_verdict_and_the_next_command() -> None:
    result = CliRunner().invoke(app, ["demo", "--accounts", "12", "--hours", "4", "--speed", "200000"])
    assert result.exit_code == 0, result.output
    out = result.output
    # The last live frame and the evaluation stay apart.
    assert re.search(r"\n\n+dipwatch evaluation", out)
    assert re.search(r"dipwatch (met all 9 targets|missed \d of 9 targets: )", out)
    command = out.rstrip("\n").splitlines()[-1]  # on one line, whatever the width, to be copied
    assert command.startswith("dipwatch simulate --seed 7 --accounts 12 --hours 4 --start fixed --out out && ")
    assert command.endswith("dipwatch report out/events.jsonl --truth out/truth.json --out report.html")
