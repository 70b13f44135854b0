"""`dipwatch report`: replay a file, score it when a truth is given, and write one HTML page."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, BinaryIO

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TimeElapsedColumn

from streams.cli.errors import one_line_errors, stderr
from streams.offline.compare import GRAFANA_PENDING_MIN
from streams.offline.truth import read_truth, truth_mismatches
from streams.cli.options import ConfigOption
from streams.cli.tables import score_rows, verdict
from streams.formats.codec import event_to_dict
from streams.engine import AnomalyEvent, DetectorConfig, Update
from streams.engine.config import MINUTE_MS
from streams.errors import InputError
from streams.offline.evaluate import Scores, score
from streams.offline.grafana_rule import grafana_rule_events
from streams.offline.replay import ReplaySummary, decode_chunk, open_events, read_chunks, replay
from streams.report import Facts, PointPicker, ScoreTable, plot_window, render_page
from streams.report.model import PLATFORM, incidents_in_order
from streams.settings import load_settings


def report_command(
    events: Annotated[Path, typer.Argument(help="JSON Lines of metric updates, in arrival order.")],
    truth: Annotated[
        Path | None, typer.Option("--truth", help="truth.json from `dipwatch simulate`: adds the scores.")
    ] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the HTML page.")] = Path("report.html"),
    config: ConfigOption = None,
) -> None:
    """Replay a file and write one self-contained HTML page of every decision, with a plot per incident."""
    with one_line_errors():
        detector = load_settings(config).detector.to_config()
        if not events.exists():
            raise InputError(f"{events} does not exist")
        truth_doc = read_truth(truth) if truth is not None else None
        started = time.perf_counter()
        html, found = build_report(events, detector, truth_doc)
        out.write_text(html, encoding="utf-8")
        stderr.print(
            f"wrote {out} ({len(html.encode()) / 1e6:.1f} MB, {found:,} events) in "
            f"{time.perf_counter() - started:.1f} s; open it in a browser (it needs no network)"
        )


def build_report(path: Path, config: DetectorConfig, truth: dict | None) -> tuple[str, int]:
    """The page's HTML and the number of events: replay, then pick each incident's points, then render."""
    size = path.stat().st_size if path.is_file() else None
    with Progress(
        "[progress.description]{task.description}", BarColumn(), DownloadColumn(), TimeElapsedColumn(),
        console=stderr, transient=True,
    ) as progress:  # fmt: skip
        replaying = progress.add_task(f"replaying {path.name}", total=size)
        with open_events(path) as source:
            events, summary = replay(_tracked(source, progress, replaying), config)
        picking = progress.add_task("picking the points to plot", total=size)
        picker = PointPicker(_windows(events))
        kept: list[Update] | None = [] if truth is not None else None
        with open_events(path) as source:
            first_ms, last_ms = _pick(_tracked(source, progress, picking), picker, kept)
        if summary.updates == 0:
            raise InputError(f"{path} holds no valid update ({sum(summary.rejected.values()):,} lines rejected)")
        scores = None
        if truth is not None and kept is not None:
            warnings = truth_mismatches(kept, sum(summary.rejected.values()), truth)
            for warning in warnings:
                progress.console.print(f"[bold yellow]warning:[/] {warning}", soft_wrap=True)
            task = progress.add_task("scoring against the truth", total=None)
            scores = _score_table(events, kept, truth, warnings)
            progress.remove_task(task)
        progress.add_task("writing the page", total=None)
        facts = _facts(path, summary, first_ms, last_ms)
        return render_page(facts, events, picker, scores), len(events)


def _tracked(source: BinaryIO, progress: Progress, task: TaskID) -> Iterator[list[bytes]]:
    """The file's chunks of lines, moving the task's bar as each is taken."""
    for chunk in read_chunks(source):
        yield chunk
        progress.update(task, completed=source.tell())


_NO_END_MS = 1 << 62  # the input's end is not known before the second pass: take points up to any time


def _windows(events: list[AnomalyEvent]) -> dict[str, list[tuple[int, int, str]]]:
    """Per series: the time windows its incident plots may show (the page trims them to the input)."""
    windows: dict[str, list[tuple[int, int, str]]] = {}
    for incident in incidents_in_order(events):
        if incident.section != PLATFORM:
            start, end = plot_window(incident, _NO_END_MS)
            windows.setdefault(incident.series, []).append((start, end, incident.anchor))
    return windows


def _pick(chunks: Iterator[list[bytes]], picker: PointPicker, kept: list[Update] | None) -> tuple[int, int]:
    """Second pass: the plotted points, the time span, and every update when they are to be scored."""
    ignored = ReplaySummary()  # rejects were counted by the first pass
    for lines in chunks:
        updates: Iterable[Update] = decode_chunk(lines, ignored, None)
        if kept is not None:
            updates = list(updates)
            kept.extend(updates)
        picker.take(updates)
    return picker.first_ms or 0, picker.last_ms or 0


def _score_table(events: list[AnomalyEvent], updates: list[Update], truth: dict, warnings: list[str]) -> ScoreTable:
    results: list[Scores] = [score([event_to_dict(e) for e in events], truth, detector="dipwatch")]
    for pending_min in GRAFANA_PENDING_MIN:
        rule_events = grafana_rule_events(updates, pending_ms=pending_min * MINUTE_MS)
        results.append(score(rule_events, truth, detector=f"grafana {pending_min}m"))
    parts = [f"{r.pages:,} times " + (f"held {m} min" if m else "firing at once")
             for r, m in zip(results[1:], GRAFANA_PENDING_MIN)]  # fmt: skip
    comparison = f"The usual Grafana rule would have paged {', '.join(parts[:-1])} and {parts[-1]}."
    return ScoreTable([r.detector for r in results], score_rows(results), verdict(results[0]), warnings, comparison)


def _facts(path: Path, summary: ReplaySummary, first_ms: int, last_ms: int) -> Facts:
    return Facts(
        source=path.name, updates=summary.updates, series=summary.series, first_ms=first_ms, last_ms=last_ms,
        rejected=dict(Counter(summary.rejected)), duplicates=summary.duplicates, too_late=summary.too_late,
    )  # fmt: skip


def register(app: typer.Typer) -> None:
    app.command("report")(report_command)
