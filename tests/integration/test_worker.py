"""The Faust worker on the real broker: same series anomalies as replay, crash-safe, bad input to the DLQ."""

from __future__ import annotations

import signal
from collections import Counter

import pytest

from streams.cli.live import partition_lag, publish_lines
from streams.engine import Kind, Scope
from streams.offline.replay import replay
from streams.offline.simulate import SimulationSpec, simulate
from tests.integration.harness import Run, caught_up, published_ids, read_all, run, series_ids, wait_until  # noqa: F401
from tests.integration.test_influx import influx_url, recent_start_ms  # noqa: F401  (the InfluxDB fixture)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stream() -> tuple[list[bytes], set[str]]:
    lines = simulate(SimulationSpec(seed=3, accounts=20, hours=6, start_ms=recent_start_ms(hours=6))).lines
    events, _ = replay([lines])
    expected = {e.event_id for e in events if e.scope is Scope.SERIES}
    assert expected
    return lines, expected


def expect_series_anomalies(run: Run, expected: set[str]) -> list[str]:
    wait_until(run, lambda: expected <= set(series_ids(read_all(run.kafka, run.kafka.output_topic))),
               "the replay's series anomalies")  # fmt: skip
    wait_until(run, lambda: caught_up(run), "the group to commit every input offset")
    return series_ids(read_all(run.kafka, run.kafka.output_topic))


def expect_platform_incidents(run: Run, lines: list[bytes]) -> set[str]:
    """Wait for every platform incident replay finds in `lines`; return their ids."""
    platform_ids = {e.event_id for e in replay([lines])[0] if e.scope is Scope.PLATFORM}
    wait_until(run, lambda: platform_ids <= published_ids(run), "the replay's platform incidents")
    return platform_ids


@pytest.mark.parametrize("workers", [1, 2])
def test_worker_publishes_the_same_series_anomalies_as_replay(run: Run, stream, workers: int) -> None:
    lines, expected = stream
    for index in range(workers):
        run.start_worker(index)
    publish_lines(run.kafka, lines, batch=1)
    published = expect_series_anomalies(run, expected)
    assert set(published) == expected
    expect_platform_incidents(run, lines)


def kill_and_restart(run: Run, lines: list[bytes], with_incident_open: bool) -> None:
    """Kill -9 the worker during the first half of the stream, then restart it on the rest.

    `with_incident_open`: in the seed-3 stream the platform outage is paged in the first half and
    recovers in the second; the kill waits until that page (and a series page) is out, so the
    restart has published pages it must not repeat and an open platform incident whose recovery it
    must still decide, once. Without it the kill comes at the first commit, usually mid-stream, so
    the restart re-reads input that was processed but not committed."""
    worker = run.start_worker()
    publish_lines(run.kafka, lines[: len(lines) // 2], batch=1)
    if with_incident_open:
        events = replay([lines])[0]
        platform_pages = {e.event_id for e in events if e.scope is Scope.PLATFORM and e.kind is Kind.SUSTAINED_DROP}
        series_pages = {e.event_id for e in events if e.scope is Scope.SERIES and e.kind is Kind.SUSTAINED_DROP}
        assert platform_pages and series_pages

        def incident_open() -> bool:
            ids = published_ids(run)
            return platform_pages <= ids and bool(series_pages & ids)

        wait_until(run, incident_open, "the platform page and a series page before the kill")
    wait_until(run, lambda: any(c for _, c, _ in partition_lag(run.kafka)), "a first commit")
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    publish_lines(run.kafka, lines[len(lines) // 2 :], batch=1)
    run.start_worker()


@pytest.mark.parametrize("with_incident_open", [False, True], ids=["at-first-commit", "incident-open"])
def test_killed_worker_restarts_without_losing_or_repeating_a_page(run: Run, stream, with_incident_open: bool) -> None:
    lines, expected = stream
    kill_and_restart(run, lines, with_incident_open)
    wait_until(run, lambda: expected <= set(series_ids(read_all(run.kafka, run.kafka.output_topic))),
               "the replay's series anomalies")  # fmt: skip
    published = series_ids(read_all(run.kafka, run.kafka.output_topic))
    assert set(published) == expected
    pages = Counter(i for i in published if i.endswith(":sustained_drop"))
    assert [i for i, n in pages.items() if n > 1] == []
    # The platform stage's aggregator comes back from its table: the incident open at the kill
    # is still decided, and recovered, once.
    platform_ids = expect_platform_incidents(run, lines)
    assert platform_ids
    platform_published = Counter(m["id"] for m in read_all(run.kafka, run.kafka.output_topic) if m["scope"] == "platform")
    assert [i for i, n in platform_published.items() if n > 1] == []


def test_restarted_worker_commits_every_partition_to_the_end(run: Run, stream) -> None:
    """After a kill -9, Faust sometimes leaves a hole in a partition's acknowledgements (about one
    restart in two before the commit watchdog): every partition must still commit to its end."""
    lines, expected = stream
    kill_and_restart(run, lines, with_incident_open=False)
    expect_series_anomalies(run, expected)


def test_worker_writes_the_same_anomaly_points_to_influxdb_as_the_backfill(run: Run, stream, influx_url: str) -> None:
    from tests.integration.test_influx import TOKEN, _drop, _fresh_database, point_count

    lines, expected = stream
    influx = _fresh_database(influx_url)
    try:
        run.start_worker(extra_env={
            "DIPWATCH_INFLUX__ENABLED": "true", "DIPWATCH_INFLUX__URL": influx.url,
            "DIPWATCH_INFLUX__TOKEN": TOKEN, "DIPWATCH_INFLUX__BUCKET": influx.bucket,
        })  # fmt: skip
        publish_lines(run.kafka, lines, batch=10)
        expect_series_anomalies(run, expected)
        published = read_all(run.kafka, run.kafka.output_topic)
        # Every published event is one anomaly point (platform events included), none twice.
        wait_until(run, lambda: point_count(influx, "anomaly", "drop") == len({m["id"] for m in published}),
                   "the anomaly points in InfluxDB")  # fmt: skip
    finally:
        _drop(influx)
