"""Integration fixtures: the real Kafka broker from deploy/local, started once per session."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session", autouse=True)
def kafka_broker() -> str:
    """Start (or find running) the local broker; a broker that cannot start fails every test loudly."""
    result = subprocess.run(
        ["bash", str(REPO / "deploy/local/services.sh"), "up", "kafka"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    if result.returncode != 0:
        pytest.fail(f"services.sh up kafka failed:\n{result.stderr[-2000:]}", pytrace=False)
    return "127.0.0.1:9092"
