"""Rich tables for the terminal: the replay summary and the evaluation side by side."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rich.table import Table
from rich.text import Text

from streams.offline.evaluate import TARGETS, GroupScores, Scores, Target, is_met, targets_met
from streams.offline.replay import ReplaySummary


def summary_table(summary: ReplaySummary, reject_lines: list[int] | None = None,
                  rejects_path: Path | None = None) -> Table:  # fmt: skip
    """The replay summary as a small two-column table: what was read and, given the first rejected
    lines (None where the command cannot keep rejects), where the rejects are."""
    table = Table(title="replay summary", show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right", overflow="fold")
    rejected = sum(summary.rejected.values())
    if summary.updates == 0 and rejected == 0:
        table.add_row("input", "empty: no line to replay")
    table.add_row("updates read", f"{summary.updates:,}")
    table.add_row("rejected", f"{rejected:,}")
    for reason, count in sorted(summary.rejected.items()):
        table.add_row(f"  {reason}", f"{count:,}")
    if reject_lines:
        more = " …" if rejected > len(reject_lines) else ""
        table.add_row("  at lines", ", ".join(f"{n:,}" for n in reject_lines) + more)
    if rejected and reject_lines is not None:  # only commands that can keep rejects say where they are
        table.add_row("  kept in", str(rejects_path) if rejects_path else "not kept: add --rejects FILE to see them")
    table.add_row("duplicates / too late", f"{summary.duplicates:,} / {summary.too_late:,}")
    table.add_row("series", f"{summary.series:,}")
    for name, count in sorted(summary.anomalies.items()):
        table.add_row(f"anomalies {name}", f"{count:,}")
    table.add_row("updates per second", f"{summary.updates_per_s:,.0f}")
    return table


def _percent(value: float) -> str:
    return f"{100 * value:.1f} %"


def _minutes(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} min"


#: The table's rows: metric, label, how to show a Scores' value.
_ROWS: tuple[tuple[str, str, Callable[[Scores], str]], ...] = (
    ("pages", "pages", lambda s: str(s.pages)),
    ("page_recall", "page recall", lambda s: _percent(s.page_recall)),
    ("page_precision", "page precision", lambda s: _percent(s.page_precision)),
    ("glitch_page_rate", "glitches paged", lambda s: _percent(s.glitch_page_rate)),
    ("glitch_recall", "glitches flagged", lambda s: _percent(s.glitch_recall)),
    ("long_glitches_handled", "long glitches handled", lambda s: _percent(s.long_glitches_handled)),
    ("false_recoveries", "false recoveries", lambda s: str(s.false_recoveries)),
    ("duplicate_pages", "duplicate pages", lambda s: str(s.duplicate_pages)),
    ("platform_found", "platform found", lambda s: f"{s.platform_found}/{s.platform_total}"),
    ("platform_classified", "platform classified", lambda s: f"{s.platform_classified}/{s.platform_total}"),
    ("stall_recall", "growth stalls found", lambda s: _percent(s.stall_recall)),
    ("time_to_page_p50_min", "time to page p50", lambda s: _minutes(s.time_to_page_p50_min)),
    ("time_to_page_p90_min", "time to page p90", lambda s: _minutes(s.time_to_page_p90_min)),
)


def _target_text(target: Target) -> str:
    symbol = {">=": "≥", "<=": "≤", "==": "="}[target.comparison]
    if isinstance(target.threshold, str):
        return "= all" if target.threshold.endswith("_total") else f"{symbol} {target.threshold.replace('_', ' ')}"
    if target.metric.endswith("_min"):
        return f"{symbol} {target.threshold:g} min"
    if isinstance(target.threshold, float):
        return f"{symbol} {_percent(target.threshold)}"
    return f"{symbol} {target.threshold}"


#: The detector whose cells are coloured: green when its target is met, red when not.
_HIGHLIGHT = "dipwatch"

ScoreRow = tuple[str, list[str], str, list["bool | None"]]


def score_rows(results: list[Scores]) -> list[ScoreRow]:
    """Per metric: its label, one cell per detector, the target, and per cell whether the highlighted
    detector met it (None for the other detectors and for metrics without a target)."""
    targets = {target.metric: target for target in TARGETS}
    met = [targets_met(result) if result.detector == _HIGHLIGHT else None for result in results]
    rows: list[ScoreRow] = []
    for metric, label, show in _ROWS:
        target = targets.get(metric)
        cells = [_cell(metric, result, show) for result in results]
        flags = [None if target is None or m is None else m[metric] for m in met]
        rows.append((label, cells, _target_text(target) if target is not None else "", flags))
    return rows


def _cell(metric: str, result: Scores, show: Callable[[Scores], str]) -> str:
    if metric == "page_precision" and result.pages == 0:
        return "no pages"  # a precision of nothing paged is no evidence of precision
    return show(result)


def render_table(results: list[Scores], width: int = 120) -> Table:
    """Detectors side by side, one row per metric; the `_HIGHLIGHT` detector's cells green when met, red when not.

    Below 100 columns the detector names stand on two lines ("grafana" over "15m"), so the table
    fits 80 columns without cutting a value."""
    table = Table(title="dipwatch evaluation", title_justify="left", show_edge=False)
    table.add_column("metric", overflow="fold", min_width=21)
    for result in results:
        header = result.detector.replace(" ", "\n", 1) if width < 100 else result.detector
        table.add_column(header, justify="right", no_wrap=True)
    table.add_column("target", no_wrap=True)
    for label, cells, target, flags in score_rows(results):
        styled = [Text(c, style="" if ok is None else ("green" if ok else "bold red")) for c, ok in zip(cells, flags)]
        table.add_row(label, *styled, target)
    return table


def verdict(scores: Scores) -> str:
    """One sentence: every target met, or which were missed and by how much."""
    labels = {metric: (label, show) for metric, label, show in _ROWS}
    missed = [t for t in TARGETS if not is_met(scores, t)]
    if not missed:
        return f"{scores.detector} met all {len(TARGETS)} targets."
    details = "; ".join(
        f"{labels[t.metric][0]} {_cell(t.metric, scores, labels[t.metric][1])} (target {_target_text(t)})"
        for t in missed
    )
    return f"{scores.detector} missed {len(missed)} of {len(TARGETS)} targets: {details}."


def _share(part: int, whole: int) -> str:
    return f"{part}/{whole}" if whole else "—"


def render_breakdown(dimension: str, by_detector: dict[str, list[GroupScores]]) -> Table:
    """One row per group and detector: where each detector pages, misses, or pages a glitch."""
    table = Table(title=f"by {dimension}")
    for column in ("group", "detector", "incidents", "pages found", "precision", "glitches paged",
                   "glitches flagged", "long glitches ok", "false rec.", "page p50 / p90"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("group", "detector") else "right")
    first = next(iter(by_detector.values()), [])
    for index, group in enumerate(first):
        for name, groups in by_detector.items():
            g = groups[index]
            table.add_row(
                g.group if name == next(iter(by_detector)) else "", name, str(g.incidents),
                _share(g.paged_incidents, g.page_incidents),
                "—" if g.page_precision is None else _percent(g.page_precision),
                _share(g.glitches_paged, g.glitch_incidents),
                "—" if not g.glitch_incidents else _percent(g.glitch_recall),
                "—" if not g.long_glitches else _percent(g.long_glitches_handled),
                str(g.false_recoveries),
                f"{_minutes(g.time_to_page_p50_min)} / {_minutes(g.time_to_page_p90_min)}",
                end_section=name == list(by_detector)[-1],
            )  # fmt: skip
    return table
