"""Commands that need no services: replay, simulate, evaluate, demo."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, BinaryIO

import orjson
import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn
from rich.table import Table

from streams.cli.errors import one_line_errors, stderr
from streams.engine import DetectorConfig
from streams.errors import InputError
from streams.replay import ReplaySummary, replay_file
from streams.settings import load_settings

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="TOML config file (env DIPWATCH_* overrides it).",
                 envvar="DIPWATCH_CONFIG", dir_okay=False),
]  # fmt: skip


def detector_config(config_file: Path | None) -> DetectorConfig:
    return load_settings(config_file).detector.to_config()


def replay_command(
    events: Annotated[Path, typer.Argument(help="JSON Lines of metric updates, in arrival order.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write anomaly events here, not stdout.")
    ] = None,
    config: ConfigOption = None,
    rejects: Annotated[
        Path | None, typer.Option("--rejects", help="Write rejected lines with their reason here.")
    ] = None,
) -> None:
    """Replay a file through the detector exactly as the worker would see it live."""
    with one_line_errors():
        detector = detector_config(config)
        if not events.exists():
            raise InputError(f"{events} does not exist")
        summary = _replay_with_progress(events, output, rejects, detector)
        stderr.print(summary_table(summary))


def _replay_with_progress(
    events: Path, output: Path | None, rejects: Path | None, config: DetectorConfig
) -> ReplaySummary:
    size = events.stat().st_size if events.is_file() else 0
    with _open_out(output) as out, _open_out(rejects, default=None) as reject_sink:
        with Progress(
            "[progress.description]{task.description}", BarColumn(), DownloadColumn(),
            TimeRemainingColumn(), console=stderr, transient=True,
        ) as progress:  # fmt: skip
            task = progress.add_task(f"replaying {events.name}", total=size or None)
            return replay_file(
                events, out, config, rejects=reject_sink,
                on_progress=lambda done: progress.update(task, completed=done),
            )  # fmt: skip


class _open_out:
    """A file opened for writing, stdout when no path is given (or nothing, for optional sinks)."""

    def __init__(self, path: Path | None, default: BinaryIO | None = sys.stdout.buffer) -> None:
        self._path, self._default, self._file = path, default, None

    def __enter__(self) -> BinaryIO | None:
        if self._path is None:
            return self._default
        self._file = self._path.open("wb")
        return self._file

    def __exit__(self, *exc: object) -> None:
        if self._file is not None:
            self._file.close()
        elif self._default is not None:
            self._default.flush()


def summary_table(summary: ReplaySummary) -> Table:
    """The replay summary as a small two-column table."""
    table = Table(title="replay summary", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    table.add_row("updates read", f"{summary.updates:,}")
    rejected = sum(summary.rejected.values())
    reasons = ", ".join(f"{r} {n}" for r, n in sorted(summary.rejected.items()))
    table.add_row("rejected", f"{rejected:,}" + (f" ({reasons})" if reasons else ""))
    table.add_row("duplicates / too late", f"{summary.duplicates:,} / {summary.too_late:,}")
    table.add_row("series", f"{summary.series:,}")
    for name, count in sorted(summary.anomalies.items()):
        table.add_row(f"anomalies {name}", f"{count:,}")
    table.add_row("updates per second", f"{summary.updates_per_s:,.0f}")
    return table


def summary_json(summary: ReplaySummary) -> bytes:
    return orjson.dumps(
        {
            "updates": summary.updates,
            "rejected": dict(summary.rejected),
            "duplicates": summary.duplicates,
            "too_late": summary.too_late,
            "series": summary.series,
            "anomalies": dict(summary.anomalies),
            "updates_per_s": round(summary.updates_per_s),
        }
    )


def register(app: typer.Typer) -> None:
    app.command("replay")(replay_command)
