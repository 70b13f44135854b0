"""The catch-up line: every few seconds while far behind, once when caught up, never more."""

from __future__ import annotations

import logging

import pytest

from streams.worker.progress_log import CatchUpLog


def test_catching_up_is_said_every_few_seconds_then_caught_up_once(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    progress = CatchUpLog(every_s=5.0, clock=lambda: now[0])
    caplog.set_level(logging.INFO, logger="streams.worker.progress_log")
    lag = 100_000
    for _ in range(300):  # 30 s of batches, 10 a second
        now[0] += 0.1
        progress.observed(2000)
        lag = max(lag - 400, 0)  # drained in 25 s
        progress.lag_is(lag)
    lines = [r.getMessage() for r in caplog.records]
    assert 4 <= sum(line.startswith("catching up") for line in lines) <= 5
    assert sum(line.startswith("caught up") for line in lines) == 1
    assert "20,000 updates/s" in lines[0]
    assert len(lines) <= 30 / 5 + 1
