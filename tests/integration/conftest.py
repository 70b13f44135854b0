"""Integration fixtures: the real Kafka broker from deploy/local, started once per session."""

from __future__ import annotations

import subprocess
from pathlib import Path

import os

import pytest

from tests.integration.harness import broker_address

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session", autouse=True)
def kafka_broker() -> str:
    """The configured broker (`DIPWATCH_KAFKA__BOOTSTRAP_SERVERS`), else the local one on
    `DIPWATCH_KAFKA_PORT`, started or found running; one that cannot start fails every test loudly."""
    if os.environ.get("DIPWATCH_KAFKA__BOOTSTRAP_SERVERS"):
        return broker_address()
    result = subprocess.run(
        ["bash", str(REPO / "deploy/local/services.sh"), "up", "kafka"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if result.returncode != 0:
        pytest.fail(f"services.sh up kafka failed:\n{result.stderr[-2000:]}", pytrace=False)
    return broker_address()
