"""Commands that talk to services: `influx init`, `provision` (Grafana) and `backfill` (replay into InfluxDB)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from streams.cli.errors import one_line_errors, stderr
from streams.cli.history import write_history
from streams.cli.options import ConfigOption
from streams.cli.tables import summary_table
from streams.errors import InputError
from streams.provision.grafana import provision
from streams.provision.influx_admin import init_database
from streams.offline.replay import open_events, read_chunks, replay
from streams.settings import load_settings

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


def register(app: typer.Typer) -> None:
    app.add_typer(influx_app, name="influx")
    app.command("provision")(provision_command)
    app.command("backfill")(backfill_command)
