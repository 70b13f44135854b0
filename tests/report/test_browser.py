"""The report in a real browser: headless Chromium loads it offline, logs no error, draws every plot."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from streams.cli import app
from streams.offline.simulate import FIXED_START_MS, SimulationSpec, simulate, write_simulation
from tests.report.browser import Browser, find_chromium

CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no chromium on PATH: deploy/local/test.sh installs Debian's `chromium` package (needs root and apt)",
)

#: Per plot: whether it was laid out with a size, and how long its drawn count line is on screen.
_PLOTS_DRAWN = """
Array.from(document.querySelectorAll('svg.plot')).map(function (svg) {
  var box = svg.getBoundingClientRect(), line = svg.querySelector('polyline.line');
  return {id: svg.closest('[id]') ? svg.closest('[id]').id : '', width: box.width, height: box.height,
          points: Number(svg.dataset.points), length: line ? line.getTotalLength() : 0,
          drawn: line ? line.getBBox().width : 0};
})
"""


@needs_chromium
def test_report_renders_in_chromium_without_errors(tmp_path: Path) -> None:
    events, truth = write_simulation(simulate(SimulationSpec(seed=3, accounts=24, hours=6, start_ms=FIXED_START_MS)), tmp_path)
    page = tmp_path / "report.html"
    result = CliRunner().invoke(app, ["report", str(events), "--truth", str(truth), "--out", str(page)])
    assert result.exit_code == 0, result.output
    incidents = page.read_text().count('<article class="incident')
    assert incidents > 5
    with Browser(CHROMIUM, tmp_path / "profile") as browser:  # type: ignore[arg-type]
        browser.call("Network.enable")
        browser.open(page.as_uri())
        plots = browser.evaluate(_PLOTS_DRAWN)
        cards = browser.evaluate("document.querySelectorAll('article.incident svg.plot').length")
        # The filter hides rows that do not match, and shows them again.
        browser.evaluate("var f = document.getElementById('filter'); f.value = 'zzz-no-such-series';"
                         "f.dispatchEvent(new Event('input'))")  # fmt: skip
        hidden_shown = browser.evaluate("document.getElementById('shown').textContent")
        shot = browser.screenshot(tmp_path / "report.png")
        requests = [e["params"]["request"]["url"] for e in browser.events if e.get("method") == "Network.requestWillBeSent"]
        errors = browser.errors()
    assert errors == []
    assert cards == incidents
    for plot in plots:
        assert plot["width"] > 200 and plot["height"] > 80, plot
        assert plot["points"] > 0 and plot["length"] > 0 and plot["drawn"] > 0, plot
    assert hidden_shown == "0"
    assert [url for url in requests if not url.startswith("file:")] == []  # nothing fetched from a network
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_chromium
def test_the_harness_sees_a_page_error(tmp_path: Path) -> None:
    """The check above could fail: a page that throws is reported."""
    broken = tmp_path / "broken.html"
    broken.write_text("<!DOCTYPE html><html><body><script>console.error('boom'); missing();</script></body></html>")
    with Browser(CHROMIUM, tmp_path / "profile") as browser:  # type: ignore[arg-type]
        browser.open(broken.as_uri())
        errors = browser.errors()
    assert "boom" in errors and any("Uncaught" in e for e in errors)
