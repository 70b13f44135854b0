"""What an operator sees of a running worker: metrics on loopback, and never a secret in any output."""

from __future__ import annotations

import os
import socket
import subprocess
import urllib.request

import pytest

from streams.cli.live import publish_lines
from tests.integration.harness import REPO, Run, dipwatch_command, free_port, run, wait_until  # noqa: F401
from tests.integration.test_worker import stream  # noqa: F401

pytestmark = pytest.mark.integration

SECRETS = {
    "DIPWATCH_INFLUX__TOKEN": "influx-SECRET-7f3a9c",
    "DIPWATCH_GRAFANA__TOKEN": "glsa_SECRET_grafana_91c2",
    "DIPWATCH_GRAFANA__SLACK_URL": "https://hooks.example/SECRET-slack-55d1",
    "DIPWATCH_GRAFANA__PAGERDUTY_KEY": "pd-SECRET-0e77",
}


def cli(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run([dipwatch_command(), *args], env=env, capture_output=True, timeout=120)
    return done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")


def test_secrets_never_appear_in_what_the_worker_and_the_cli_print(run: Run, stream) -> None:
    lines, _ = stream
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens: every sink write fails and is reported
    env = {**SECRETS, "DIPWATCH_INFLUX__ENABLED": "true", "DIPWATCH_INFLUX__URL": nowhere,
           "DIPWATCH_GRAFANA__ANNOTATIONS": "true", "DIPWATCH_GRAFANA__URL": nowhere}  # fmt: skip
    worker = run.start_worker(extra_env=env)
    publish_lines(run.kafka, lines, batch=10)
    wait_until(run, lambda: run.logs().count("cannot be written") >= 2, "both sinks reported down")
    cli_env = {**os.environ, **run.env(1), **env, "PYTHONPATH": str(REPO)}
    printed = [
        cli("--help", env=cli_env), cli("worker", "--help", env=cli_env), cli("influx", "init", env=cli_env),
        cli("provision", env=cli_env), cli("lag", env=cli_env),
    ]
    assert worker.poll() is None
    run.stop()
    everything = run.logs_in_full() + "\n".join(printed)
    assert "InfluxDB at" in everything and "Grafana at" in everything  # the errors were printed...
    for name, secret in SECRETS.items():
        assert secret not in everything, f"{name} was printed"  # ...without the secrets
        assert secret.split("SECRET")[-1] not in everything


def test_metrics_are_served_on_loopback_only_and_cover_lag_dead_letters_sinks_and_checkpoints(run: Run, stream) -> None:
    lines, _ = stream
    worker = run.start_worker()
    port = run.web_port(worker)
    publish_lines(run.kafka, [b"not json", *lines], batch=1)

    def page() -> str:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics/", timeout=5) as response:
                return response.read().decode()
        except OSError:
            return ""

    expected = ("dipwatch_partition_lag{", 'dipwatch_rejects_total{reason="not_json"}',
                "dipwatch_dead_letters_failed_total 0.0", "dipwatch_checkpoint_age_seconds", "dipwatch_updates_total")  # fmt: skip
    wait_until(run, lambda: all(name in page() for name in expected), "the metrics page with every figure")
    assert float(page().split("\ndipwatch_checkpoint_age_seconds ")[1].split()[0]) < 60
    outside = _non_loopback_address()
    if outside is None:
        pytest.skip("this machine has no address besides loopback to try the page from")
    with pytest.raises(OSError):
        socket.create_connection((outside, port), timeout=2).close()


def _non_loopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))  # no packet is sent: this only picks the outgoing address
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address
