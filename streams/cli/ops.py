"""Commands that talk to services: `influx init`, `provision` (Grafana) and `backfill` (replay into InfluxDB)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

from streams.sinks.backfill import backfill
from streams.cli.errors import one_line_errors, stderr
from streams.cli.options import ConfigOption
from streams.cli.tables import summary_table
from streams.formats.codec import decode_lines
from streams.engine import AnomalyEvent, Update
from streams.errors import InputError, ServiceError
from streams.provision.grafana import provision
from streams.provision.influx_admin import init_database
from streams.offline.replay import open_events, read_chunks, replay
from streams.settings import Settings, load_settings

influx_app = typer.Typer(help="InfluxDB administration.", no_args_is_help=True)


@influx_app.command("init")
def influx_init_command(config: ConfigOption = None) -> None:
    """Create the database and its retention policy (idempotent)."""
    with one_line_errors():
        done = init_database(load_settings(config).influx)
        stderr.print(f"InfluxDB ready: {done}")


def provision_command(config: ConfigOption = None) -> None:
    """Create or update dipwatch's folder, datasource, dashboards, alert rules, contact point and policies."""
    with one_line_errors():
        changes = provision(load_settings(config))
        for change in changes:
            stderr.print(f"  {change}")
        stderr.print(f"Grafana provisioned: {len(changes) or 'no'} change(s)")


def backfill_command(
    events: Annotated[Path, typer.Argument(help="JSON Lines of metric updates, in arrival order.")],
    config: ConfigOption = None,
) -> None:
    """Replay a file and write its counts, series states and anomaly events to InfluxDB."""
    with one_line_errors():
        settings = load_settings(config)
        if not events.exists():
            raise InputError(f"{events} does not exist")
        with open_events(events) as source:
            found, summary = replay(read_chunks(source), settings.detector.to_config())
        stderr.print(summary_table(summary))
        write_history(events, found, settings)


def write_history(events_path: Path, found: list[AnomalyEvent], settings: Settings) -> None:
    """Counts, series states and anomaly events of a replayed file, into InfluxDB; then what was
    written and, if InfluxDB stopped accepting writes, what was not (exit 3)."""
    report = backfill(found, _updates(events_path), settings.influx)
    for line in report.lines():
        stderr.print(line, markup=False, highlight=False)
    if not report.complete:
        raise typer.Exit(ServiceError.exit_code)


def _updates(path: Path) -> Iterator[Update]:
    # Read the file a second time rather than hold every update of a large file in memory.
    with open_events(path) as source:
        for lines in read_chunks(source):
            yield from decode_lines(lines)[0]


def register(app: typer.Typer) -> None:
    app.add_typer(influx_app, name="influx")
    app.command("provision")(provision_command)
    app.command("backfill")(backfill_command)
