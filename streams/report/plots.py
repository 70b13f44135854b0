"""One chart per incident and the platform timeline, from the incidents and the picked points."""

from __future__ import annotations

from streams.engine import Kind
from streams.report.model import PLATFORM, STALL, Incident, dropping_counts
from streams.report.points import PointPicker, plot_window, thin
from streams.report.svg import Band, Chart, Line, Mark

#: Points per platform timeline: one line across the whole input.
TIMELINE_POINTS = 1200


def incident_chart(
    incident: Incident, picker: PointPicker, intervals: list[tuple[int, int]], data_end_ms: int
) -> tuple[Chart, int, int]:
    """The incident's chart, with how many points it draws and how many there were."""
    start, end = plot_window(incident, data_end_ms)
    chart = Chart(start, end, title=f"{incident.series} from {incident.onset_ms}")
    if incident.section == PLATFORM:
        steps = _clip_steps(dropping_counts(intervals), start, min(end, data_end_ms))
        chart.lines.append(Line(steps, "dropping", "series of this platform and metric down", step=True))
        drawn = total = len(steps)
    else:
        points, total = picker.series_of(incident.anchor, start, end)
        chart.lines.append(Line(points, "count", "count shown"))
        expected = _expected(incident, points, data_end_ms)
        if expected:
            chart.lines.append(Line(expected, "expected", "what the engine expected (its baseline)"))
        drawn = len(points)
    chart.bands.extend(_bands(incident, data_end_ms))
    chart.marks.extend(_marks(incident))
    return chart, drawn, total


def _expected(incident: Incident, points: list[tuple[int, float]], data_end_ms: int) -> list[tuple[int, float]]:
    head = incident.headline
    if incident.section == STALL:
        # A stall's baseline is the count growth would have reached by the decision.
        at_onset = next((v for t, v in points if t >= head.onset_ms), head.low)
        return [(head.onset_ms, at_onset), (head.decided_ms, head.baseline)]
    return [(head.onset_ms, head.baseline), (incident.end_ms(data_end_ms), head.baseline)]


def _bands(incident: Incident, data_end_ms: int) -> list[Band]:
    onset = incident.onset_ms
    glitch = incident.decided(Kind.GLITCH)
    page = incident.decided(Kind.SUSTAINED_DROP)
    recovery = incident.decided(Kind.RECOVERY)
    bands = []
    if glitch is not None:
        bands.append(Band(onset, glitch, "glitch", "glitch: the loss came back within the hold"))
    if page is not None:
        bands.append(Band(onset, page, "hold", "hold window: waiting to see whether the loss comes back"))
        bands.append(Band(page, recovery if recovery is not None else data_end_ms, "down", "paged and down"))
    return bands


def _marks(incident: Incident) -> list[Mark]:
    marks = [Mark(incident.onset_ms, "onset", "onset")]
    for kind, css, label in (
        (Kind.GLITCH, "back", "back"),
        (Kind.SUSTAINED_DROP, "page", "page"),
        (Kind.RECOVERY, "recovery", "recovered"),
        (Kind.GROWTH_STALL, "page", "stall decided"),
    ):
        at = incident.decided(kind)
        if at is not None:
            marks.append(Mark(at, css, label))
    return marks


def _clip_steps(steps: list[tuple[int, float]], start: int, end: int) -> list[tuple[int, float]]:
    """The step function inside [start, end], starting and ending with the level in force there."""
    level = 0.0
    inside = []
    for at, value in steps:
        if at < start:
            level = value
        elif at <= end:
            inside.append((at, value))
    last = inside[-1][1] if inside else level
    return [(start, level), *inside, (end, last)]


def timeline_chart(
    key: tuple[str, str], intervals: list[tuple[int, int]], platform_incidents: list[Incident],
    first_ms: int, last_ms: int,
) -> Chart:  # fmt: skip
    """How many series of one platform and metric were down over the whole input, incidents shaded."""
    steps = _clip_steps(dropping_counts(intervals), first_ms, last_ms)
    chart = Chart(first_ms, last_ms, width=960, height=170, title=f"{key[0]} {key[1]}: series down")
    chart.lines.append(Line(thin(steps, TIMELINE_POINTS), "dropping", "series down", step=True))
    for incident in platform_incidents:
        head = incident.headline
        end = incident.decided(Kind.RECOVERY) or head.decided_ms
        css = "down" if head.kind is Kind.SUSTAINED_DROP else "glitch"
        chart.bands.append(Band(incident.onset_ms, end, css, head.message))
        chart.marks.append(Mark(head.decided_ms, "page" if css == "down" else "back", "platform " + head.kind.value))
    return chart
