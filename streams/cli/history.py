"""Printing a replayed file's history as written to InfluxDB: shared by `replay --influx` and
`backfill`, so neither command module imports the other."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import typer

from streams.cli.errors import stderr
from streams.engine import AnomalyEvent, Update
from streams.errors import ServiceError
from streams.formats.codec import decode_lines
from streams.offline.replay import open_events, read_chunks
from streams.settings import Settings
from streams.sinks.backfill import backfill


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
