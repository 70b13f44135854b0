"""`backfill` ends by saying what it wrote and what it did not, against an InfluxDB stand-in that
accepts a given number of write requests and then refuses every one."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from pydantic import SecretStr

from streams.sinks.backfill import backfill
from streams.formats.codec import decode_line
from streams.engine import Update
from streams.offline.replay import replay
from streams.settings import InfluxSettings
from streams.offline.simulate import SimulationSpec, simulate

REPO = Path(__file__).resolve().parents[2]
BATCH = 5000


class InfluxStandIn:
    """Answers 204 to the first `accept` writes, then 503; counts the lines it accepted."""

    def __init__(self, accept: int) -> None:
        self.accept, self.accepted_lines, self.requests = accept, 0, 0
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                stand_in.requests += 1
                if stand_in.requests <= stand_in.accept:
                    stand_in.accepted_lines += len(body.splitlines())
                    self.send_response(204)
                else:
                    self.send_response(503)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def stand_in(request: pytest.FixtureRequest) -> Iterator[InfluxStandIn]:
    server = InfluxStandIn(request.param)
    yield server
    server.server.shutdown()


@pytest.fixture(scope="module")
def stream() -> tuple[list, list[Update], list[bytes]]:
    lines = simulate(SimulationSpec(seed=3, accounts=20, hours=6, start_ms=1_700_000_000_000)).lines
    events, _ = replay([lines])
    updates = [u for u in map(decode_line, lines) if type(u) is Update]
    return events, updates, lines


def settings_for(url: str) -> InfluxSettings:
    return InfluxSettings(url=url, token=SecretStr("u:p"), batch_size=BATCH, retry_for_s=0.3)


@pytest.mark.parametrize("stand_in", [10_000], indirect=True)
def test_a_complete_backfill_reports_every_point_it_wrote(stand_in: InfluxStandIn, stream) -> None:
    events, updates, _ = stream
    report = backfill(events, updates, settings_for(stand_in.url))
    assert report.complete and report.counts_missing.points == 0
    assert report.counts_written.points == len(updates)
    assert report.counts_written.series == {u.key for u in updates}
    assert report.counts_written.first_ms == min(u.ts_ms for u in updates)
    assert report.counts_written.points + report.history_written == stand_in.accepted_lines
    assert report.history_written == report.history_points > 0
    (line,) = report.lines()
    assert f"{stand_in.accepted_lines:,} points" in line


@pytest.mark.parametrize("stand_in", [3], indirect=True)
def test_a_failed_backfill_says_what_was_written_and_what_is_missing(stand_in: InfluxStandIn, stream) -> None:
    events, updates, _ = stream
    report = backfill(events, updates, settings_for(stand_in.url))
    assert not report.complete
    assert report.counts_written.points == stand_in.accepted_lines == 3 * BATCH
    assert report.counts_written.points + report.counts_missing.points == len(updates)
    assert report.counts_written.series | report.counts_missing.series == {u.key for u in updates}
    # The file is in arrival order: what is missing is the rest of it, up to its last update.
    assert report.counts_missing.last_ms == max(u.ts_ms for u in updates)
    assert report.history_written == 0 and report.history_points > 0
    text = "\n".join(report.lines())
    assert "backfill stopped" in text and "not written" in text and "re-run" in text
    assert "next flush" not in text


def test_the_command_exits_3_with_the_account_when_influxdb_is_unreachable(tmp_path: Path, stream) -> None:
    _, _, lines = stream
    events_file = tmp_path / "events.jsonl"
    events_file.write_bytes(b"\n".join(lines) + b"\n")
    closed_port = InfluxStandIn(0)
    url = closed_port.url
    closed_port.server.shutdown()
    closed_port.server.server_close()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIPWATCH_")}
    env.update(PYTHONPATH=str(REPO), DIPWATCH_INFLUX__URL=url, DIPWATCH_INFLUX__RETRY_FOR_S="0.3",
               COLUMNS="200")  # fmt: skip
    dipwatch = shutil.which("dipwatch")
    assert dipwatch, "the dipwatch console script is not on PATH (pip install -e .)"
    result = subprocess.run([dipwatch, "backfill", str(events_file)],
                            env=env, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 3, result.stderr[-2000:]
    assert "backfill stopped: InfluxDB at " + url in result.stderr
    assert "not written:" in result.stderr and "Traceback" not in result.stderr
    assert "next flush" not in result.stderr
