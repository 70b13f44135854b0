"""The InfluxDB sink against a real InfluxDB 1.8: read-back, alert-rule queries, restarts, no doubles."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from influxdb_client import InfluxDBClient
from pydantic import SecretStr

from streams.formats.codec import decode_line, format_time
from streams.engine.types import AnomalyEvent, Cause, Kind, Scope, Update
from streams.errors import ServiceError
from streams.provision.grafana import alert_rules, dashboards, rule_queries
from streams.provision.influx_admin import database_and_policy, init_database
from streams.offline.replay import replay
from streams.settings import InfluxSettings
from streams.offline.simulate import SimulationSpec, simulate, start_ending_at
from streams.sinks.influx import InfluxSink, write_replay_to_influx

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SERVICES = REPO / "deploy" / "local" / "services.sh"
TOKEN = "dipwatch:dipwatch-local"
EVERYTHING = 'range(start: 2000-01-01T00:00:00Z, stop: 2100-01-01T00:00:00Z)'


def recent_start_ms(hours: float) -> int:
    """A stream that ends now: InfluxDB drops points older than a database's retention policy, so a
    stream at a fixed date would fail every test from a week after that date on."""
    return start_ending_at(int(time.time() * 1000), hours)


def services(*args: str, env: dict[str, str] | None = None) -> None:
    result = subprocess.run(["bash", str(SERVICES), *args], capture_output=True, text=True, timeout=900,
                            env={**os.environ, **(env or {})})  # fmt: skip
    if result.returncode != 0:
        pytest.fail(f"services.sh {' '.join(args)} failed:\n{result.stderr[-2000:]}", pytrace=False)


@pytest.fixture(scope="session")
def influx_url() -> str:
    services("up", "influxdb")
    return "http://127.0.0.1:8086"


def _fresh_database(url: str) -> InfluxSettings:
    # A database per test run: other people's tests share this InfluxDB.
    settings = InfluxSettings(url=url, token=SecretStr(TOKEN), bucket=f"dipwatch_test_{uuid.uuid4().hex[:8]}/autogen",
                              retention="1w")  # fmt: skip
    init_database(settings)
    return settings


def _drop(settings: InfluxSettings) -> None:
    database, _ = database_and_policy(settings.bucket)
    with InfluxDBClient(url=settings.url, token=TOKEN, org="-") as client:
        client.api_client.call_api(
            "/query", "POST", query_params=[("q", f'DROP DATABASE "{database}"')],
            header_params={"Authorization": client.api_client.default_headers["Authorization"]},
        )  # fmt: skip


@pytest.fixture
def bucket(influx_url: str) -> Iterator[InfluxSettings]:
    settings = _fresh_database(influx_url)
    yield settings
    _drop(settings)


@dataclass
class Scenario:
    events: list[AnomalyEvent]
    updates: list[Update]
    end_ms: int


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    simulation = simulate(SimulationSpec(seed=5, accounts=20, hours=6, start_ms=recent_start_ms(hours=6)))
    events, _ = replay([simulation.lines])
    updates = [u for u in map(decode_line, simulation.lines) if type(u) is Update]
    return Scenario(events, updates, max(u.ts_ms for u in updates))


def flux(settings: InfluxSettings, query: str) -> list[dict]:
    with InfluxDBClient(url=settings.url, token=TOKEN, org="-") as client:
        tables = client.query_api().query(query)
    return [{k: v for k, v in r.values.items() if k not in ("result", "table")} for t in tables for r in t.records]


def point_count(settings: InfluxSettings, measurement: str, field: str) -> int:
    rows = flux(settings, f'from(bucket: "{settings.bucket}") |> {EVERYTHING} '
                          f'|> filter(fn: (r) => r._measurement == "{measurement}" and r._field == "{field}") '
                          "|> group() |> count()")  # fmt: skip
    return rows[0]["_value"] if rows else 0


def run_rule(settings: InfluxSettings, uid: str, at_ms: int) -> set[tuple]:
    """The rule's own query, evaluated as Grafana would at `at_ms` over the rule's time range."""
    rule = next(r for r in alert_rules(settings.bucket) if r["uid"] == uid)
    from_s = rule["data"][0]["relativeTimeRange"]["from"]
    start, stop = format_time(at_ms - from_s * 1000), format_time(at_ms + 1)
    time_range = f"v = {{timeRangeStart: {start}, timeRangeStop: {stop}}}\n"
    rows = flux(settings, time_range + rule_queries(settings.bucket)[uid])
    return {(r["platform"], r.get("account"), r["metric"], r.get("post"), r["cause"]) for r in rows}


def still_down(events: list[AnomalyEvent], scope: Scope) -> dict[str, AnomalyEvent]:
    last: dict[str, AnomalyEvent] = {}
    for event in events:
        if event.scope is scope and event.kind in (Kind.SUSTAINED_DROP, Kind.RECOVERY):
            last[event.series] = event
    return {series: e for series, e in last.items() if e.kind is Kind.SUSTAINED_DROP}


def test_replay_reads_back_point_for_point(bucket: InfluxSettings, scenario: Scenario) -> None:
    written = write_replay_to_influx(scenario.events, scenario.updates, bucket)
    distinct_counts = len({(u.key, u.ts_ms) for u in scenario.updates})
    assert point_count(bucket, "count", "value") == distinct_counts
    assert point_count(bucket, "anomaly", "drop_pct") == len(scenario.events) > 0
    rows = flux(bucket, f'from(bucket: "{bucket.bucket}") |> {EVERYTHING} '
                        '|> filter(fn: (r) => r._measurement == "anomaly" and r._field == "id")')  # fmt: skip
    assert sorted(r["_value"] for r in rows) == sorted(e.event_id for e in scenario.events)
    assert written >= distinct_counts + len(scenario.events)


def test_series_rule_pages_exactly_the_series_still_down(bucket: InfluxSettings, scenario: Scenario) -> None:
    write_replay_to_influx(scenario.events, scenario.updates, bucket)
    paged = run_rule(bucket, "dipwatch-sustained-drop", scenario.end_ms)
    down = still_down(scenario.events, Scope.SERIES)
    assert {(e.platform, e.account, e.metric, e.post, e.cause.value) for e in down.values()} == paged
    glitched = {e.series for e in scenario.events if e.kind is Kind.GLITCH}
    assert glitched and not glitched & set(down)  # the scenario has glitches, and none of them pages
    recovered = {e.series for e in scenario.events if e.kind is Kind.RECOVERY}
    assert recovered and not recovered & {f"{p}/{a}/{m}" for p, a, m, _, _ in paged}


def _platform_event(metric: str, kind: Kind, decided_ms: int) -> AnomalyEvent:
    return AnomalyEvent(kind=kind, scope=Scope.PLATFORM, platform="testplat", account=None, metric=metric,
                        post=None, onset_ms=decided_ms - 900_000, decided_ms=decided_ms, baseline=100.0, low=60.0,
                        cause=Cause.OUTAGE, message=f"testplat {metric} outage", affected=12, of=40)  # fmt: skip


def test_platform_rule_pages_incidents_without_recovery(bucket: InfluxSettings, scenario: Scenario) -> None:
    end = scenario.end_ms
    extra = [_platform_event("followers", Kind.SUSTAINED_DROP, end - 3_600_000),
             _platform_event("likes", Kind.SUSTAINED_DROP, end - 3_600_000),
             _platform_event("likes", Kind.RECOVERY, end - 600_000)]  # fmt: skip
    events = sorted([*scenario.events, *extra], key=AnomalyEvent.sort_key)
    write_replay_to_influx(events, [], bucket)
    expected = {(e.platform, None, e.metric, None, e.cause.value) for e in still_down(events, Scope.PLATFORM).values()}
    assert ("testplat", None, "followers", None, "outage") in expected
    assert run_rule(bucket, "dipwatch-platform-incident", end) == expected
    assert run_rule(bucket, "dipwatch-sustained-drop", end) == {
        (e.platform, e.account, e.metric, e.post, e.cause.value) for e in still_down(events, Scope.SERIES).values()
    }  # platform events write no series states


def test_replaying_twice_writes_no_doubles(bucket: InfluxSettings, scenario: Scenario) -> None:
    write_replay_to_influx(scenario.events, scenario.updates, bucket)
    before = [point_count(bucket, m, f) for m, f in (("count", "value"), ("anomaly", "id"), ("series_state", "state"))]
    write_replay_to_influx(scenario.events, scenario.updates, bucket)
    after = [point_count(bucket, m, f) for m, f in (("count", "value"), ("anomaly", "id"), ("series_state", "state"))]
    assert after == before and all(before)


def test_every_dashboard_query_runs(bucket: InfluxSettings, scenario: Scenario) -> None:
    write_replay_to_influx(scenario.events, scenario.updates, bucket)
    window = (f"v = {{timeRangeStart: {format_time(scenario.end_ms - 86_400_000)}, "
              f"timeRangeStop: {format_time(scenario.end_ms)}, windowPeriod: 10m}}\n")  # fmt: skip
    variables = {"${platform:json}": '["tiktok", "instagram", "x", "youtube"]', "${platform}": "tiktok",
                 "${account}": "acct0001", "${metric}": "followers"}  # fmt: skip
    for dashboard in dashboards(bucket.bucket):
        text = json.dumps(dashboard)
        for name, value in variables.items():
            text = text.replace(name, value.replace('"', '\\"'))
        substituted = json.loads(text)
        queries = [t["query"] for p in substituted["panels"] for t in p["targets"]]
        queries += [a["target"]["query"] for a in substituted["annotations"]["list"]]
        for query in queries:
            flux(bucket, window + query)  # raises on any Flux error
        for variable in substituted["templating"]["list"]:
            assert flux(bucket, variable["query"].replace("-30d", "-3650d")), variable["name"]


# ---------------------------------------------------------------- outage

@pytest.fixture
def private_influx(influx_url: str, tmp_path: Path) -> Iterator[tuple[InfluxSettings, dict[str, str]]]:
    """A second InfluxDB on other ports with its own data, so stopping it disturbs no one else's tests.

    It reuses the influxd binary the shared instance was built with (services.sh builds it on first use).
    """
    shared_bin = Path(os.environ.get("DIPWATCH_CACHE", Path.home() / ".cache" / "dipwatch")) / "influxdb" / "bin"
    (tmp_path / "influxdb").mkdir()
    shutil.copytree(shared_bin, tmp_path / "influxdb" / "bin", symlinks=True, copy_function=os.link)
    env = {"DIPWATCH_CACHE": str(tmp_path), "DIPWATCH_INFLUX_PORT": "18086", "DIPWATCH_INFLUX_RPC_PORT": "18088"}
    services("up", "influxdb", env=env)
    try:
        yield _fresh_database("http://127.0.0.1:18086"), env
    finally:
        services("down", "influxdb", env=env)


def test_an_influxdb_outage_keeps_the_newest_points_up_to_the_buffer_limit(
    private_influx: tuple[InfluxSettings, dict[str, str]], scenario: Scenario
) -> None:
    settings, env = private_influx
    settings = settings.model_copy(update={"buffer_limit": 2000, "batch_size": 500})
    updates = scenario.updates[:2500]
    sink = InfluxSink(settings)

    async def stream() -> None:
        for update in updates[:1000]:
            sink.add_count(update)
        await sink.flush()
        services("down", "influxdb", env=env)
        for update in updates[1000:2000]:
            sink.add_count(update)
        with pytest.raises(ServiceError, match="refused or missed 500 points"):
            await sink.flush(patience_s=0.5)
        assert sink.pending == 1000 and sink.dropped == 0  # nothing lost inside the bound
        for update in updates[2000:]:
            sink.add_count(update)
        assert sink.pending == 1500 and sink.dropped == 0
        for update in updates[1000:1500]:  # the same points again, as a restarted worker would add them
            sink.add_count(update)
        assert sink.pending == 2000 and sink.dropped == 0
        for update in updates[2000:2500]:
            sink.add_count(update)  # past the bound: the oldest 500 go, counted
        assert sink.pending == 2000 and sink.dropped == 500
        services("up", "influxdb", env=env)
        assert await sink.flush() == 2000
        await sink.close()

    asyncio.run(stream())
    assert sink.failed_attempts > 0
    assert point_count(settings, "count", "value") == len({(u.key, u.ts_ms) for u in updates})
