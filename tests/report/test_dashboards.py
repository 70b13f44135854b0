"""The Grafana views of the report, run against the real InfluxDB on a replayed stream: the platform
timeline, pages per day and the expected trajectory give what the HTML report shows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from streams.engine import Kind, Scope
from streams.provision.grafana import dashboards
from streams.report.model import drop_intervals, dropping_counts, incidents_in_order, pages_per_day
from streams.settings import InfluxSettings
from streams.sinks.influx import write_replay_to_influx
from tests.integration.test_influx import Scenario, _drop, _fresh_database, flux, scenario, services  # noqa: F401
from streams.formats.codec import format_time

pytestmark = pytest.mark.integration

FAR_FUTURE_MS = 4_000_000_000_000  # open drops end here, past any query


@pytest.fixture(scope="module")
def written(scenario: Scenario) -> Iterator[InfluxSettings]:  # noqa: F811 - the imported fixture
    services("up", "influxdb")
    settings = _fresh_database("http://127.0.0.1:8086")
    write_replay_to_influx(scenario.events, scenario.updates, settings)
    yield settings
    _drop(settings)


def panel_query(dashboard_uid: str, title_start: str, ref: str = "A") -> str:
    dashboard = next(d for d in dashboards() if d["uid"] == dashboard_uid)
    panel = next(p for p in dashboard["panels"] if p["title"].startswith(title_start))
    return next(t["query"] for t in panel["targets"] if t["refId"] == ref)


def run(settings: InfluxSettings, query: str, end_ms: int, variables: dict[str, str]) -> list[dict]:
    for name, value in variables.items():
        query = query.replace(name, value)
    window = (f"v = {{timeRangeStart: {format_time(end_ms - 2 * 86_400_000)}, "
              f"timeRangeStop: {format_time(end_ms + 1)}, windowPeriod: 10m}}\n")  # fmt: skip
    return flux(settings, window + query.replace("dipwatch/autogen", settings.bucket))


ALL_PLATFORMS = {"${platform:json}": '["tiktok", "instagram", "x", "youtube"]'}


def test_platform_timeline_counts_the_series_down_as_the_report_does(written: InfluxSettings, scenario: Scenario) -> None:  # noqa: F811
    rows = run(written, panel_query("dipwatch-overview", "Series down"), scenario.end_ms, ALL_PLATFORMS)
    levels: dict[tuple[str, str], dict[int, int]] = {}
    for row in rows:  # the level after the last change at each moment
        levels.setdefault((row["platform"], row["metric"]), {})[int(row["_time"].timestamp() * 1000)] = row["_value"]
    intervals = drop_intervals(incidents_in_order(scenario.events), FAR_FUTURE_MS)
    expected = {
        key: {at: int(level) for at, level in dropping_counts(spans) if at < FAR_FUTURE_MS}
        for key, spans in intervals.items()
    }
    assert levels and any(max(by_time.values()) >= 3 for by_time in levels.values())  # several down at once
    assert levels == expected


def test_pages_per_day_match_the_report(written: InfluxSettings, scenario: Scenario) -> None:  # noqa: F811
    rows = run(written, panel_query("dipwatch-overview", "Pages per day"), scenario.end_ms, ALL_PLATFORMS)
    # A window's time is its stop: the end of its day, or the end of the range for the last one.
    got = {(row["scope"], (int(row["_time"].timestamp() * 1000) - 1) // 86_400_000): row["_value"] for row in rows}
    expected = {}
    for day_ms, series, platform in pages_per_day(scenario.events):
        for scope, count in (("series", series), ("platform", platform)):
            if count:
                expected[(scope, day_ms // 86_400_000)] = count
    assert got == expected and sum(got.values()) > 0


def test_expected_trajectory_spans_each_incident_at_its_baseline(written: InfluxSettings, scenario: Scenario) -> None:  # noqa: F811
    paged = next(e for e in scenario.events if e.kind is Kind.SUSTAINED_DROP and e.scope is Scope.SERIES and e.post is None)
    variables = {"${platform}": paged.platform, "${account}": paged.account or "", "${metric}": paged.metric}
    rows = run(written, panel_query("dipwatch-series", "Count, baseline", "B"), scenario.end_ms, variables)
    got = sorted((int(r["_time"].timestamp() * 1000), r["_value"], r["incident"]) for r in rows)
    own = [e for e in scenario.events if e.series == paged.series and e.kind is not Kind.GROWTH_STALL]
    expected = sorted(
        point for e in own for point in ((e.onset_ms, e.baseline, str(e.onset_ms)), (e.decided_ms, e.baseline, str(e.onset_ms)))
    )
    assert got == expected and len(got) >= 2
