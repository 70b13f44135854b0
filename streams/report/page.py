"""The report's HTML: one self-contained page (inline CSS, SVG and a few lines of script, no network)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from html import escape

from streams.engine import AnomalyEvent, Kind, Scope
from streams.engine.messages import duration
from streams.report.model import (
    GLITCH, PAGE, PLATFORM, SECTION_ORDER, SECTION_TITLES, Incident, drop_intervals, incidents_in_order,
    pages_per_day,
)  # fmt: skip
from streams.report.plots import incident_chart, timeline_chart
from streams.report.points import MAX_POINTS, PointPicker
from streams.report.runbook import runbook_line
from streams.report.style import SCRIPT, STYLE

#: Most incidents drawn; past it the rest (they sort last: the smallest glitches, growth stalls) are only listed.
MAX_PLOTS = 600


@dataclass
class Facts:
    """What the replay read, for the summary."""

    source: str
    updates: int
    series: int
    first_ms: int
    last_ms: int
    rejected: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    too_late: int = 0


@dataclass
class ScoreTable:
    """Detectors side by side against the truth: columns, rows (label, cells, target, met per cell)."""

    columns: list[str]
    rows: list[tuple[str, list[str], str, list[bool | None]]]
    verdict: str
    warnings: list[str] = field(default_factory=list)  # why the truth may not belong to this input
    comparison: str = ""  # what the other detectors would have done, in one sentence


def when(ms: int) -> str:
    """A moment with its date, as the report prints it.

    >>> when(1795694400000)
    '2026-11-26 12:00 UTC'
    """
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def render_page(facts: Facts, events: list[AnomalyEvent], picker: PointPicker, scores: ScoreTable | None) -> str:
    """The whole report as one HTML document."""
    incidents = incidents_in_order(events)
    # A drop still open at the end stays open on the plots: its interval closes just after the input.
    intervals = drop_intervals(incidents, facts.last_ms + 1)
    body = [
        f"<header><h1>dipwatch backtest of {escape(facts.source)}</h1>"
        f"<p>{when(facts.first_ms)} to {when(facts.last_ms)} ({duration(facts.last_ms - facts.first_ms)} of "
        f"event time). Every decision below is what the live worker would have made on this input.</p>"
        f'<p class="headline">{escape(headline(incidents, scores))}</p>'
        "<p class=\"note\">How to read it: a <b>page</b> is a drop that did not come back within the hold "
        "window and would have woken on-call once; a <b>platform incident</b> groups the pages of many series "
        "of one platform into one; a <b>glitch</b> came back by itself and is only shown on dashboards.</p>"
        "</header>",
        _summary(facts, events, incidents),
    ]
    if scores is not None:
        body.append(_scores(scores))
    body.append(_incidents(incidents, picker, intervals, facts.last_ms))
    body.append(_timelines(incidents, intervals, facts))
    body.append(_table(incidents))
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>dipwatch report: {escape(facts.source)}</title><style>{STYLE}</style></head>"
        f"<body>{''.join(body)}<script>{SCRIPT}</script></body></html>"
    )


def headline(incidents: list[Incident], scores: ScoreTable | None) -> str:
    """The page's first sentence: what would have paged, what would not, and the verdict."""
    count = Counter(i.section for i in incidents)
    still_down = sum(i.is_open for i in incidents if i.section == PAGE)
    platform_pages = sum(i.decided(Kind.SUSTAINED_DROP) is not None for i in incidents if i.section == PLATFORM)
    platform_glitches = count[PLATFORM] - platform_pages
    also = f" (and {_plural(platform_glitches, 'platform-wide glitch')})" if platform_glitches else ""
    text = (
        f"dipwatch would have paged for {_plural(count[PAGE], 'series', 'series')} ({still_down:,} still down at the "
        f"end) and raised {_plural(platform_pages, 'platform incident')}, where many series of one platform fell "
        f"at once; it would have shown {_plural(count[GLITCH], 'glitch')}{also} without paging anyone."
    )
    if scores is not None:
        text += f" {scores.comparison} {scores.verdict}".rstrip()
    return text


def _plural(count: int, one: str, many: str | None = None) -> str:
    """A count with its noun.

    >>> _plural(1, "glitch"), _plural(3, "glitch"), _plural(2, "series", "series")
    ('1 glitch', '3 glitches', '2 series')
    """
    if count == 1:
        return f"1 {one}"
    return f"{count:,} {many or (one + 'es' if one.endswith(('s', 'ch')) else one + 's')}"


def _summary(facts: Facts, events: list[AnomalyEvent], incidents: list[Incident]) -> str:
    by_section = Counter(i.section for i in incidents)
    rows = [
        ("updates", f"{facts.updates:,}"),
        ("series", f"{facts.series:,}"),
        ("rejected lines", f"{sum(facts.rejected.values()):,}"),
        *((f"· {reason}", f"{n:,}") for reason, n in sorted(facts.rejected.items())),
        ("duplicates / too late", f"{facts.duplicates:,} / {facts.too_late:,}"),
    ] + [(SECTION_TITLES[s].split(" (")[0].lower(), f"{by_section[s]:,}") for s in SECTION_ORDER]
    kinds = Counter((e.scope.value, e.kind.value) for e in events)
    causes = Counter(e.cause.value for e in events if e.kind is not Kind.RECOVERY)
    return (
        '<section id="summary"><h2>Summary</h2><div class="cards">'
        + _two_columns("input and incidents", rows)
        + _two_columns("events by kind", [(f"{k} ({s})", f"{n:,}") for (s, k), n in sorted(kinds.items())])
        + _two_columns("events by cause", [(c, f"{n:,}") for c, n in causes.most_common()])
        + _pages_per_day(events)
        + "</div></section>"
    )


def _two_columns(title: str, rows: list[tuple[str, str]]) -> str:
    cells = "".join(f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in rows) or "<tr><td>none</td></tr>"
    return f'<table class="facts"><caption>{escape(title)}</caption>{cells}</table>'


def _pages_per_day(events: list[AnomalyEvent]) -> str:
    days = pages_per_day(events)
    most = max((s + p for _, s, p in days), default=0) or 1
    rows = "".join(
        f'<tr><th>{when(day)[:10]}</th><td>{s:,} series + {p:,} platform</td>'
        f'<td class="bar"><span style="width:{100 * (s + p) / most:.0f}%"></span></td></tr>'
        for day, s, p in days
    )
    return f'<table class="facts"><caption>pages per day</caption>{rows or "<tr><td>no pages</td></tr>"}</table>'


def _scores(scores: ScoreTable) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in ["metric", *scores.columns, "target"])
    rows = []
    for label, cells, target, met in scores.rows:
        tds = "".join(
            f'<td class="{"" if ok is None else ("met" if ok else "missed")}">{escape(cell)}</td>'
            for cell, ok in zip(cells, met)
        )
        rows.append(f"<tr><th>{escape(label)}</th>{tds}<td>{escape(target)}</td></tr>")
    warnings = "".join(f'<p class="warning">Warning: {escape(w)}</p>' for w in scores.warnings)
    return (
        f'<section id="scores"><h2>Against the truth</h2>{warnings}<p>dipwatch beside the usual Grafana rule '
        "(“the count is more than 2 % below its highest value of the last hour”) held for 0, 5 and 15 minutes before firing, scored "
        f'as <code>dipwatch evaluate</code> scores them.</p><table class="scores"><tr>{head}</tr>{"".join(rows)}'
        f'</table><p class="verdict">{escape(scores.verdict)}</p></section>'
    )


_LEGEND = (
    '<p class="legend"><span class="key count"></span>count shown <span class="key expected"></span>expected '
    '(the baseline the engine held) <span class="key hold"></span>hold window <span class="key down"></span>'
    'paged, down <span class="key glitch"></span>glitch, came back <span class="key dropping"></span>'
    "series of the platform down</p>"
)


def _incidents(incidents: list[Incident], picker: PointPicker, intervals: dict, data_end_ms: int) -> str:
    parts = [
        '<section id="incidents"><h2>Incidents</h2><p class="note">In the order on-call reads them: pages '
        "(still down first), platform incidents, glitches (largest first), growth stalls. Each plot draws at "
        f"most {MAX_POINTS} points: where a window holds more, each time bucket keeps its lowest and highest "
        f"count, so no dip is hidden. At most {MAX_PLOTS} incidents are drawn; the rest are in the table below."
        f"</p>{_LEGEND}"
    ]
    section = None
    for number, incident in enumerate(incidents):
        if incident.section != section:
            section = incident.section
            count = sum(i.section == section for i in incidents)
            parts.append(f'<h3 id="section-{section}">{SECTION_TITLES[section]}: {count:,}</h3>')
        if number < MAX_PLOTS:
            parts.append(_incident_card(incident, picker, intervals, data_end_ms))
    if not incidents:
        parts.append("<p>No anomaly: no count dropped, glitched or stopped growing in this input.</p>")
    return "".join(parts) + "</section>"


def _incident_card(incident: Incident, picker: PointPicker, intervals: dict, data_end_ms: int) -> str:
    head = incident.headline
    chart, drawn, total = incident_chart(incident, picker, intervals.get((head.platform, head.metric), []), data_end_ms)
    thinned = f" ({drawn:,} of {total:,} points drawn)" if drawn < total else ""
    facts = [f"onset {when(incident.onset_ms)}"]
    for kind, label in ((Kind.GLITCH, "back"), (Kind.SUSTAINED_DROP, "paged"), (Kind.RECOVERY, "recovered")):
        at = incident.decided(kind)
        if at is not None:
            facts.append(f"{label} {when(at)[11:]} (+{duration(at - incident.onset_ms)})")
    if head.scope is Scope.PLATFORM:
        facts.append(f"{head.affected} of {head.of} series")
    messages = "".join(f"<p>{escape(e.message)}</p>" for e in incident.events)
    state = " open" if incident.is_open else ""
    return (
        f'<article class="incident {incident.section}{state}" id="{incident.anchor}">'
        f'<h4><span class="tag {incident.section}">{_label(incident)}</span> {escape(incident.series)} '
        f'<span class="drop">−{head.drop_pct:.1f}% · {escape(head.cause.value)}</span></h4>'
        f'{messages}<p class="runbook">Next: {escape(runbook_line(_latest(incident)))}</p>'
        f'<p class="meta">{" · ".join(facts)}{thinned}</p>{chart.render()}</article>'
    )


def _latest(incident: Incident) -> AnomalyEvent:
    """The event whose advice holds now: a recovery overrides the cause guessed at the page."""
    return incident.events[-1] if incident.decided(Kind.RECOVERY) is not None else incident.headline


def _label(incident: Incident) -> str:
    if incident.section == PLATFORM:
        return "platform page" if incident.decided(Kind.SUSTAINED_DROP) else "platform glitch"
    if incident.is_open:
        return "page · still down"
    return {"page": "page · recovered" if incident.decided(Kind.RECOVERY) else "page", "glitch": "glitch",
            "stall": "growth stall"}[incident.section]


def _timelines(incidents: list[Incident], intervals: dict, facts: Facts) -> str:
    platform = [i for i in incidents if i.section == PLATFORM]
    keys = sorted(set(intervals) | {(i.headline.platform, i.headline.metric) for i in platform})
    charts = []
    for key in keys:
        own = [i for i in platform if (i.headline.platform, i.headline.metric) == key]
        chart = timeline_chart(key, intervals.get(key, []), own, facts.first_ms, facts.last_ms)
        charts.append(f"<h4>{escape(key[0])} · {escape(key[1])}</h4>{chart.render()}")
    return (
        '<section id="timeline"><h2>Platform timeline</h2><p class="note">How many series of each platform and '
        "metric were down at once (from onset to glitch, recovery or the end of the input); platform "
        f"incidents shaded.</p>{''.join(charts) or '<p>No drops.</p>'}</section>"
    )


def _table(incidents: list[Incident]) -> str:
    drawn = {incident.anchor for incident in incidents[:MAX_PLOTS]}
    listed = sorted(((e, i.anchor) for i in incidents for e in i.events), key=lambda pair: pair[0].sort_key())
    rows = []
    for event, anchor in listed:  # in time order, as they were decided
        link = f'<a href="#{anchor}">plot</a>' if anchor in drawn else "not drawn"
        rows.append(
            f'<tr data-kind="{event.kind.value}" data-scope="{event.scope.value}"><td>{when(event.decided_ms)}</td>'
            f"<td>{event.kind.value}</td><td>{escape(event.series)}</td><td>{event.drop_pct:.1f}%</td>"
            f"<td>{escape(event.cause.value)}</td><td>{link}</td></tr>"
        )
    options = "".join(f'<option value="{k.value}">{k.value}</option>' for k in Kind)
    return (
        '<section id="anomalies"><h2>Every anomaly</h2><p class="filters"><input id="filter" type="search" '
        'placeholder="filter: series, cause, date…" aria-label="filter"> <select id="kind" aria-label="kind">'
        f'<option value="">every kind</option>{options}</select> <span id="shown">{len(rows):,}</span> shown</p>'
        '<table id="events"><thead><tr><th>decided</th><th>kind</th><th>series</th><th>drop</th><th>cause</th>'
        f"<th></th></tr></thead><tbody>{''.join(rows)}</tbody></table></section>"
    )
