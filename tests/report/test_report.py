"""`dipwatch report` through typer's runner: one self-contained page, a plot per incident, the scores."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from streams.cli import app
from streams.formats.codec import decode_line
from streams.engine import Detector, DetectorConfig, Kind, Update
from streams.report.model import GLITCH, PAGE, PLATFORM, incidents_in_order
from streams.report.points import MAX_POINTS, thin
from streams.offline.simulate import FIXED_START_MS, SimulationSpec, simulate, write_simulation

runner = CliRunner()


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("sim")
    spec = SimulationSpec(seed=3, accounts=30, hours=8, start_ms=FIXED_START_MS)
    return write_simulation(simulate(spec), out)


def expected_events(events_path: Path) -> list:
    detector = Detector(DetectorConfig())
    updates = [u for u in map(decode_line, events_path.read_bytes().splitlines()) if type(u) is Update]
    return detector.observe_many(updates) + detector.flush()


def test_report_draws_one_plot_per_incident_and_scores_beside_grafana(simulated, tmp_path: Path) -> None:
    events_path, truth_path = simulated
    page = tmp_path / "report.html"
    result = runner.invoke(app, ["report", str(events_path), "--truth", str(truth_path), "--out", str(page)])
    assert result.exit_code == 0, result.output
    html = page.read_text()
    incidents = incidents_in_order(expected_events(events_path))
    assert {PAGE, GLITCH, PLATFORM} <= {i.section for i in incidents}
    # One incident card per incident, each with its plot, plus one timeline per platform and metric.
    assert len(re.findall(r'<article class="incident', html)) == len(incidents)
    cards = re.findall(r'<article class="incident[^"]*" id="(i\d+)">.*?</article>', html, re.S)
    assert cards == [i.anchor for i in incidents]
    for card in re.findall(r"<article.*?</article>", html, re.S):
        assert card.count('<svg class="plot"') == 1
    points = [int(n) for n in re.findall(r'data-points="(\d+)"', html)]
    assert all(0 < n <= 2 * MAX_POINTS for n in points)
    # Pages come before platform incidents, which come before glitches.
    order = [re.search(r'class="incident (\w+)', c).group(1) for c in re.findall(r"<article[^>]*>", html)]
    assert order == sorted(order, key=[PAGE, PLATFORM, GLITCH, "stall"].index)
    # The scores beside the Grafana rule, and a verdict.
    assert all(f"grafana {m}m" in html for m in (0, 5, 15))
    assert re.search(r"dipwatch (met all|missed \d+ of) \d+ targets", html)
    # Every event is a row of the table, linked to its plot.
    rows = re.findall(r'<tr data-kind="(\w+)"[^>]*>.*?<a href="#(i\d+)">plot</a>', html)
    assert len(rows) == sum(len(i.events) for i in incidents)


def test_report_needs_no_network(simulated, tmp_path: Path) -> None:
    page = tmp_path / "r.html"
    assert runner.invoke(app, ["report", str(simulated[0]), "-o", str(page)]).exit_code == 0
    html = page.read_text()
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "<script src" not in html and "<link" not in html
    assert "Against the truth" not in html  # no --truth, no scores


def test_report_of_an_input_without_updates_says_so(tmp_path: Path) -> None:
    empty = tmp_path / "bad.jsonl"
    empty.write_bytes(b"not json\n{}\n")
    result = runner.invoke(app, ["report", str(empty), "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 2
    assert "no valid update" in result.output and "2 lines rejected" in result.output
    assert not (tmp_path / "r.html").exists()


def test_a_still_open_page_sorts_before_a_resolved_one(tmp_path: Path) -> None:
    lines = []
    for minute in range(240):
        down_a = 60 <= minute < 150  # pages, then recovers
        down_b = minute >= 120  # pages and stays down
        for account, down in (("a", down_a), ("b", down_b)):
            lines.append(orjson.dumps({"platform": "x", "account": account, "metric": "followers",
                                       "value": 5_000 if down else 10_000, "ts": (FIXED_START_MS + minute * 60_000) / 1000}))  # fmt: skip
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join(lines))
    page = tmp_path / "r.html"
    assert runner.invoke(app, ["report", str(path), "-o", str(page)]).exit_code == 0
    html = page.read_text()
    headings = re.findall(r'<span class="tag page">([^<]+)</span> ([\w/]+)', html)
    assert headings == [("page · still down", "x/b/followers"), ("page · recovered", "x/a/followers")]
    kinds = Counter(re.findall(r'<tr data-kind="(\w+)"', html))
    assert kinds == {Kind.SUSTAINED_DROP.value: 2, Kind.RECOVERY.value: 1}


def test_thinning_keeps_the_lowest_point_of_every_bucket() -> None:
    points = [(t, 100.0) for t in range(10_000)]
    points[7_777] = (7_777, 3.0)  # a one-point dip
    kept = thin(points, 200)
    assert len(kept) <= 200 and (7_777, 3.0) in kept
    assert kept == sorted(kept)


def test_report_scores_are_the_ones_evaluate_computes(simulated, tmp_path: Path) -> None:
    events_path, truth_path = simulated
    page = tmp_path / "r.html"
    assert runner.invoke(app, ["report", str(events_path), "--truth", str(truth_path), "-o", str(page)]).exit_code == 0
    evaluated = orjson.loads(runner.invoke(app, ["evaluate", str(events_path), str(truth_path), "--json"]).stdout)
    table = page.read_text().split('<table class="scores">', 1)[1].split("</table>", 1)[0]
    pages_row = re.search(r"<tr><th>pages</th>(.*?)</tr>", table).group(1)
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", pages_row)
    assert cells[:4] == [str(s["pages"]) for s in evaluated]
    recall_row = re.search(r"<tr><th>page recall</th>(.*?)</tr>", table).group(1)
    assert re.findall(r"<td[^>]*>([^<]*)</td>", recall_row)[:4] == [f"{100 * s['page_recall']:.1f} %" for s in evaluated]


def test_report_warns_when_the_truth_belongs_to_another_stream(simulated, tmp_path: Path) -> None:
    other = tmp_path / "other.jsonl"
    other.write_bytes(b"\n".join(orjson.dumps({"platform": "mastodon", "account": "z", "metric": "boosts", "value": 5 + m,
                                               "ts": 1_700_000_000 + 60 * m}) for m in range(20)))  # fmt: skip
    page = tmp_path / "r.html"
    result = runner.invoke(app, ["report", str(other), "--truth", str(simulated[1]), "-o", str(page)])
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output
    assert 'class="warning">Warning: no series of the truth' in page.read_text()


def test_the_page_opens_with_what_would_have_paged_and_the_verdict(simulated, tmp_path: Path) -> None:
    events_path, truth_path = simulated
    page = tmp_path / "r.html"
    assert runner.invoke(app, ["report", str(events_path), "--truth", str(truth_path), "-o", str(page)]).exit_code == 0
    headline = re.search(r'<p class="headline">([^<]*)</p>', page.read_text()).group(1)
    incidents = incidents_in_order(expected_events(events_path))
    pages = sum(i.section == PAGE for i in incidents)
    glitches = sum(i.section == GLITCH for i in incidents)
    assert headline.startswith(f"dipwatch would have paged for {pages} series")
    assert f"it would have shown {glitches} glitches" in headline and "without paging anyone" in headline
    assert "The usual Grafana rule would have paged" in headline
    assert re.search(r"dipwatch (met all|missed \d+ of) 9 targets", headline)
