"""The settings deploy/ hands the worker, run here: `dipwatch worker` with the compose and Kubernetes
environment, only the addresses swapped for the local services', processes a stream end to end."""

from __future__ import annotations

import pytest

from streams.cli.live import publish_lines
from streams.settings import GrafanaSettings
from streams.offline.simulate import SimulationSpec, simulate
from tests.deploy_files import kubernetes_worker_env, service_env
from tests.integration.harness import Run, caught_up, run, wait_until  # noqa: F401
from tests.integration.test_influx import TOKEN, _drop, _fresh_database, influx_url, point_count, recent_start_ms  # noqa: F401

pytestmark = pytest.mark.integration

# Where each deployment's addresses point on this machine; the harness gives every worker its own
# topics, group, data dir and web port, as a second deployment beside the first would have.
_PER_RUN = {"DIPWATCH_KAFKA__", "DIPWATCH_WORKER__DATA_DIR", "DIPWATCH_WORKER__WEB_PORT"}
_CONTAINER_HOSTS = ("kafka:", "influxdb:", "grafana:")


def localised(env: dict[str, str], influx_url: str, bucket: str) -> dict[str, str]:
    local = {k: v for k, v in env.items() if k.startswith("DIPWATCH_") and not any(k.startswith(p) for p in _PER_RUN)}
    local.update(DIPWATCH_INFLUX__URL=influx_url, DIPWATCH_INFLUX__TOKEN=TOKEN, DIPWATCH_INFLUX__BUCKET=bucket,
                 DIPWATCH_GRAFANA__URL=GrafanaSettings().url)  # fmt: skip
    leftover = {k: v for k, v in local.items() if any(h in v for h in _CONTAINER_HOSTS)}
    assert not leftover, f"addresses this test does not know how to swap: {leftover}"
    return local


@pytest.mark.parametrize("deployment", ["compose", "kubernetes"])
def test_the_deployed_settings_start_a_worker_that_processes_and_writes(run: Run, influx_url: str, deployment: str) -> None:
    env = service_env("worker") if deployment == "compose" else kubernetes_worker_env()
    assert env["DIPWATCH_INFLUX__ENABLED"] == "true"  # so this runs the InfluxDB sink as deployed
    influx = _fresh_database(influx_url)
    try:
        run.start_worker(extra_env=localised(env, influx.url, influx.bucket))
        lines = simulate(SimulationSpec(seed=4, accounts=3, hours=1, start_ms=recent_start_ms(hours=1))).lines
        publish_lines(run.kafka, lines, batch=20)
        wait_until(run, lambda: caught_up(run), "the group to commit every input offset")
        wait_until(run, lambda: point_count(influx, "count", "value") > 0, "count points in InfluxDB")
    finally:
        _drop(influx)
