"""Commands that need no services: replay, simulate, evaluate, demo."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, BinaryIO

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

from streams.cli.errors import one_line_errors, stderr
from streams.cli.options import ConfigOption
from streams.cli.tables import render_breakdown, render_table, summary_table, verdict
from streams.engine import AnomalyEvent, DetectorConfig
from streams.errors import InputError
from streams.formats.codec import parse_time_ms
from streams.offline.compare import detector_events
from streams.offline.evaluate import breakdown, score, targets_met
from streams.offline.rejects import RejectSpool
from streams.offline.replay import ReplaySummary, open_events, replay_file
from streams.offline.simulate import FIXED_START_MS, MIXES, SimulationSpec, simulate, start_ending_at, write_simulation
from streams.offline.truth import mismatch_warnings, read_truth
from streams.settings import load_settings

def replay_command(
    events: Annotated[Path, typer.Argument(help="JSON Lines of metric updates, in arrival order.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write anomaly events here, not stdout.")
    ] = None,
    config: ConfigOption = None,
    rejects: Annotated[
        Path | None, typer.Option("--rejects", help="Write each rejected line here, with its line number and reason.")
    ] = None,
    influx: Annotated[
        bool, typer.Option("--influx", help="Also write counts, states and events to InfluxDB.")
    ] = False,
) -> None:
    """Replay a file through the detector exactly as the worker would see it live."""
    with one_line_errors():
        settings = load_settings(config)
        if not events.exists():
            raise InputError(f"{events} does not exist")
        spool = RejectSpool()
        try:
            found, summary = _replay_with_progress(events, output, spool, settings.detector.to_config())
            first_lines = _write_rejects(spool, events, rejects)
        finally:
            spool.close()
        stderr.print(summary_table(summary, first_lines, rejects))
        if influx:
            from streams.cli.history import write_history  # only this option needs the InfluxDB client

            write_history(events, found, settings)


#: Rejected lines whose numbers the summary names.
_REJECTS_SHOWN = 5


def _write_rejects(spool: RejectSpool, events: Path, rejects: Path | None) -> list[int]:
    """Write the numbered rejects to `rejects` (when given); return the first lines, for the summary."""
    first: list[int] = []
    with _open_out(rejects, to_stdout=False) as out:
        for record in spool.numbered(events):
            if len(first) < _REJECTS_SHOWN:
                first.append(record["line"])
            if out is None:
                if len(first) == _REJECTS_SHOWN:
                    break
                continue
            out.write(orjson.dumps(record) + b"\n")
    return first


def _replay_with_progress(
    events: Path, output: Path | None, reject_sink: RejectSpool, config: DetectorConfig
) -> tuple[list[AnomalyEvent], ReplaySummary]:
    size = events.stat().st_size if events.is_file() else 0
    with _open_out(output) as out:
        with Progress(
            "[progress.description]{task.description}", BarColumn(), DownloadColumn(),
            TimeRemainingColumn(), console=stderr, transient=True,
        ) as progress:  # fmt: skip
            task = progress.add_task(f"replaying {events.name}", total=size or None)
            return replay_file(
                events, out, config, rejects=reject_sink,  # type: ignore[arg-type]
                on_progress=lambda done: progress.update(task, completed=done),
            )  # fmt: skip


class _open_out:
    """A file opened for writing, stdout when no path is given (or nothing, for optional sinks)."""

    def __init__(self, path: Path | None, to_stdout: bool = True) -> None:
        self._path, self._file = path, None
        self._default: BinaryIO | None = None
        self._to_stdout = to_stdout

    def __enter__(self) -> BinaryIO | None:
        if self._path is None:
            # Looked up now, not at import: tests and wrappers replace sys.stdout.
            self._default = sys.stdout.buffer if self._to_stdout else None
            return self._default
        self._file = self._path.open("wb")
        return self._file

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.close()
        elif self._default is not None:
            self._default.flush()


def simulate_command(
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same files.")] = 1,
    accounts: Annotated[int, typer.Option(min=4, max=100_000, help="Accounts to simulate.")] = 300,
    hours: Annotated[float, typer.Option(min=1, max=24 * 30, help="Hours of event time.")] = 24.0,
    out: Annotated[Path, typer.Option(help="Directory for events.jsonl and truth.json.")] = Path("out"),
    start: Annotated[
        str | None,
        typer.Option(help="Event time of the first update (RFC 3339, or 'fixed' for the reproducible "
                          "default 2026-11-18T08:00Z); default: the whole hour that makes the stream end now."),
    ] = None,
    mix: Annotated[
        str,
        typer.Option(help="'minute': every series polled once a minute; 'broad' ('slow': 5-15 min only): poll intervals of 30 s to "
                          "15 min with jitter, late batches, daily rhythms, growth bursts, glitches of every length."),
    ] = "minute",
) -> None:
    """Write a realistic live stream with labelled incidents (events.jsonl) and its truth.json."""
    with one_line_errors():
        if mix not in MIXES:
            raise InputError(f"--mix {mix!r}: expected one of {', '.join(MIXES)}")
        start_ms = _simulation_start_ms(start, hours)
        with stderr.status(f"simulating {accounts} accounts for {hours:g} h (seed {seed})"):
            spec = SimulationSpec(seed=seed, accounts=accounts, hours=hours, start_ms=start_ms, mix=mix)
            simulation = simulate(spec)
            events_path, truth_path = write_simulation(simulation, out)
        truth = simulation.truth
        stderr.print(
            f"wrote {events_path} ({len(simulation.lines):,} lines, {truth['series']:,} series) "
            f"and {truth_path} ({len(truth['incidents']):,} incidents, "
            f"{len(truth['platform_incidents'])} platform incidents)"
        )


def _simulation_start_ms(start: str | None, hours: float) -> int:
    """`--start`: a stream that ends now by default, so its points sit inside a live InfluxDB's
    retention; 'fixed' or an explicit time for a file that is the same on any day."""
    if start is None:
        return start_ending_at(int(time.time() * 1000), hours)
    if start == "fixed":
        return FIXED_START_MS
    start_ms = parse_time_ms(start)
    if start_ms is None or start_ms % 1000:
        raise InputError(f"--start {start!r}: expected an RFC 3339 time in whole seconds, or 'fixed'")
    return start_ms


def evaluate_command(
    events: Annotated[Path, typer.Argument(help="The updates (events.jsonl) to replay.")],
    truth: Annotated[Path, typer.Argument(help="The truth.json written by `dipwatch simulate`.")],
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the scores as JSON instead.")] = False,
) -> None:
    """Replay, then score dipwatch and the usual Grafana rule side by side against the truth,
    overall and broken down by poll cadence, incident kind and duration.

    Exits 1 when dipwatch misses a target, so it can gate a CI job."""
    with one_line_errors():
        detector = load_settings(config).detector.to_config()
        truth_doc = read_truth(truth)
        with open_events(events) as source:
            lines = source.readlines()
        for warning in mismatch_warnings(lines, truth_doc):
            stderr.print(f"[bold yellow]warning:[/] {warning}", soft_wrap=True)
        found = detector_events(lines, detector, stage=stderr.status)
        results = [score(found_events, truth_doc, detector=name) for name, found_events in found]
        parts = {name: breakdown(found_events, truth_doc) for name, found_events in found}
        met = targets_met(results[0])
        if as_json:
            payload = [
                {**r.as_dict(), "targets_met": targets_met(r),
                 "breakdown": {dim: [g.as_dict() for g in groups] for dim, groups in parts[r.detector].items()}}
                for r in results
            ]  # fmt: skip
            sys.stdout.buffer.write(orjson.dumps(payload, option=orjson.OPT_INDENT_2) + b"\n")
        else:
            console = Console()
            console.print(render_table(results, console.width))
            for dimension in ("cadence", "kind", "duration"):
                console.print(render_breakdown(dimension, {name: p[dimension] for name, p in parts.items()}))
            console.print(verdict(results[0]), style="bold green" if all(met.values()) else "bold red")
    if not all(met.values()):
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("replay")(replay_command)
    app.command("simulate")(simulate_command)
    app.command("evaluate")(evaluate_command)
