"""Rich tables for the terminal: the replay summary and the evaluation side by side."""

from __future__ import annotations

from collections.abc import Callable

from rich.table import Table
from rich.text import Text

from streams.evaluate import TARGETS, GroupScores, Scores, Target, targets_met
from streams.replay import ReplaySummary


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
    ("platform_found", "platform incidents found", lambda s: f"{s.platform_found}/{s.platform_total}"),
    ("platform_classified", "platform incidents classified", lambda s: f"{s.platform_classified}/{s.platform_total}"),
    ("stall_recall", "growth stalls found", lambda s: _percent(s.stall_recall)),
    ("time_to_page_p50_min", "time to page p50", lambda s: _minutes(s.time_to_page_p50_min)),
    ("time_to_page_p90_min", "time to page p90", lambda s: _minutes(s.time_to_page_p90_min)),
)


def _target_text(target: Target) -> str:
    symbol = {">=": "≥", "<=": "≤", "==": "="}[target.comparison]
    if isinstance(target.threshold, str):
        return f"{symbol} {target.threshold.replace('_', ' ')}"
    if target.metric.endswith("_min"):
        return f"{symbol} {target.threshold:g} min"
    if isinstance(target.threshold, float):
        return f"{symbol} {_percent(target.threshold)}"
    return f"{symbol} {target.threshold}"


#: The detector whose cells are coloured: green when its target is met, red when not.
_HIGHLIGHT = "dipwatch"


def render_table(results: list[Scores]) -> Table:
    """Detectors side by side, one row per metric; the `_HIGHLIGHT` detector's cells green when met, red when not."""
    table = Table(title="dipwatch evaluation")
    table.add_column("metric")
    for result in results:
        table.add_column(result.detector, justify="right")
    table.add_column("target")
    targets = {target.metric: target for target in TARGETS}
    # Per column: the highlighted detector's targets met, None for the others.
    met = [targets_met(result) if result.detector == _HIGHLIGHT else None for result in results]
    for metric, label, show in _ROWS:
        target = targets.get(metric)
        cells: list[str | Text] = [label]
        for result, result_met in zip(results, met):
            style = ""
            if target is not None and result_met is not None:
                style = "green" if result_met[metric] else "bold red"
            cells.append(Text(show(result), style=style))
        cells.append(_target_text(target) if target is not None else "")
        table.add_row(*cells)
    return table


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
