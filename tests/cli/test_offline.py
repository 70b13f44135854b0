"""The offline commands through typer's runner: exit codes, one-line errors, the contract's replay."""

from __future__ import annotations

import re
import time
from pathlib import Path

import orjson
from typer.testing import CliRunner

from streams.cli import app
from streams.formats.codec import decode_line, parse_time_ms
from streams.engine import Update
from streams.engine.config import HOUR_MS
from streams.offline.simulate import FIXED_START_MS
from tests.engine.scenarios import T0

runner = CliRunner()


def write_stream(path: Path) -> Path:
    lines = []
    for minute in range(60):
        value = 0 if 30 <= minute < 50 else 10_000 + minute  # a removal-like fall that comes back late
        lines.append(orjson.dumps({"platform": "x", "account": "acme", "metric": "followers",
                                   "value": value, "ts": (T0 + minute * 60_000) / 1000}))  # fmt: skip
    lines[10:10] = [b"not json", b'{"platform":"x","account":"a","metric":"m","value":-1,"ts":1}']
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_replay_writes_events_and_counts_rejects_by_reason(tmp_path: Path) -> None:
    out = tmp_path / "anomalies.jsonl"
    rejects = tmp_path / "rejects.jsonl"
    result = runner.invoke(app, ["replay", str(write_stream(tmp_path / "in.jsonl")), "-o", str(out),
                                 "--rejects", str(rejects)])  # fmt: skip
    assert result.exit_code == 0, result.output
    kinds = [orjson.loads(line)["kind"] for line in out.read_bytes().splitlines()]
    assert kinds == ["sustained_drop", "recovery"]
    assert re.search(r"bad_value\D+1", result.output) and re.search(r"not_json\D+1", result.output)
    records = [orjson.loads(line) for line in rejects.read_bytes().splitlines()]
    assert [(r["line"], r["reason"]) for r in records] == [(11, "not_json"), (12, "bad_value")]
    assert "11, 12" in result.output and "kept in" in result.output and "add --rejects" not in result.output


def test_replay_summary_says_where_the_rejects_are_and_when_the_input_is_empty(tmp_path: Path) -> None:
    result = runner.invoke(app, ["replay", str(write_stream(tmp_path / "in.jsonl")), "-o", str(tmp_path / "o")])
    assert "add --rejects FILE to see them" in result.output and "11, 12" in result.output
    (tmp_path / "empty.jsonl").write_bytes(b"")
    result = runner.invoke(app, ["replay", str(tmp_path / "empty.jsonl")])
    assert result.exit_code == 0 and "empty: no line to replay" in result.output


def test_a_reject_detail_names_the_column_not_line_1(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_bytes(b'{"platform":"x"}\n{"platform": "x", "value": 1\n')
    rejects = tmp_path / "rejects.jsonl"
    runner.invoke(app, ["replay", str(tmp_path / "in.jsonl"), "--rejects", str(rejects)])
    last = orjson.loads(rejects.read_bytes().splitlines()[-1])
    assert last["line"] == 2 and "column" in last["detail"] and "line 1" not in last["detail"]


def test_replay_to_stdout_by_default(tmp_path: Path) -> None:
    result = runner.invoke(app, ["replay", str(write_stream(tmp_path / "in.jsonl"))])
    assert result.exit_code == 0
    assert '"kind":"sustained_drop"' in result.stdout


def test_missing_file_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["replay", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 2
    assert "does not exist" in result.output and "Traceback" not in result.output


def test_bad_config_names_the_field(tmp_path: Path) -> None:
    config = tmp_path / "dipwatch.toml"
    config.write_text("[detector]\nmin_drop_pct = 500\n")
    result = runner.invoke(app, ["replay", str(write_stream(tmp_path / "in.jsonl")), "-c", str(config)])
    assert result.exit_code == 2
    assert "min_drop_pct" in result.output and "Traceback" not in result.output


def test_config_file_changes_the_hold(tmp_path: Path) -> None:
    config = tmp_path / "dipwatch.toml"
    config.write_text("[detector]\nhold_ms = 1800000\n")  # 30 min: the 20-minute fall is a glitch
    out = tmp_path / "a.jsonl"
    result = runner.invoke(app, ["replay", str(write_stream(tmp_path / "in.jsonl")), "-c", str(config), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert [orjson.loads(line)["kind"] for line in out.read_bytes().splitlines()] == ["glitch"]


def test_simulate_then_evaluate_json(tmp_path: Path) -> None:
    result = runner.invoke(app, ["simulate", "--seed", "2", "--accounts", "12", "--hours", "4", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["evaluate", str(tmp_path / "events.jsonl"), str(tmp_path / "truth.json"), "--json"])
    scores = orjson.loads(result.stdout)
    assert result.exit_code == (0 if all(scores[0]["targets_met"].values()) else 1), result.output
    assert [s["detector"] for s in scores] == ["dipwatch", "grafana 0m", "grafana 5m", "grafana 15m"]
    assert 0.0 <= scores[0]["page_recall"] <= 1.0


def test_evaluate_rejects_a_file_that_is_not_a_truth(tmp_path: Path) -> None:
    (tmp_path / "t.json").write_text("[1, 2]")
    result = runner.invoke(app, ["evaluate", str(write_stream(tmp_path / "in.jsonl")), str(tmp_path / "t.json")])
    assert result.exit_code == 2 and "not a truth file" in result.output


def test_a_time_past_year_9999_is_a_bad_time_reject_and_replay_decides_the_rest(tmp_path: Path) -> None:
    clean = write_stream(tmp_path / "clean.jsonl")
    absurd = [orjson.dumps({"platform": "x", "account": "acme", "metric": "followers", "value": 5, "ts": ts})
              for ts in (1e30, 253402300800, "0999-01-01T00:00:00Z")]  # fmt: skip
    lines = clean.read_bytes().splitlines()
    (tmp_path / "hostile.jsonl").write_bytes(b"\n".join(lines[:20] + absurd + lines[20:]) + b"\n")
    expected = runner.invoke(app, ["replay", str(clean)])
    result = runner.invoke(app, ["replay", str(tmp_path / "hostile.jsonl")])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and re.search(r"bad_time\D+3", result.output)
    assert result.stdout == expected.stdout


def _simulated_span_ms(directory: Path) -> tuple[int, int]:
    records = (decode_line(raw) for raw in (directory / "events.jsonl").read_bytes().splitlines())
    valid = [record.ts_ms for record in records if isinstance(record, Update)]  # the simulator adds bad lines
    return min(valid), max(valid)


def test_simulate_ends_now_by_default_and_starts_where_told(tmp_path: Path) -> None:
    now_ms = int(time.time() * 1000)
    assert runner.invoke(app, ["simulate", "--accounts", "4", "--hours", "2", "--out", str(tmp_path / "a")]).exit_code == 0
    first, last = _simulated_span_ms(tmp_path / "a")
    assert now_ms - 3 * HOUR_MS <= first and last <= now_ms + 60_000  # within retention, never in the future
    assert orjson.loads((tmp_path / "a" / "truth.json").read_bytes())["spec"]["start_ms"] % HOUR_MS == 0
    for start, start_ms in (("fixed", FIXED_START_MS), ("2026-01-05T10:00:00Z", parse_time_ms("2026-01-05T10:00:00Z"))):
        out = tmp_path / start.replace(":", "")
        assert runner.invoke(app, ["simulate", "--accounts", "4", "--hours", "2", "--start", start,
                                   "--out", str(out)]).exit_code == 0  # fmt: skip
        assert orjson.loads((out / "truth.json").read_bytes())["spec"]["start_ms"] == start_ms
    result = runner.invoke(app, ["simulate", "--start", "yesterday", "--out", str(tmp_path / "b")])
    assert result.exit_code == 2 and "--start" in result.output and "Traceback" not in result.output


def simulated(tmp_path: Path, name: str, *extra: str) -> Path:
    out = tmp_path / name
    args = ["simulate", "--seed", "2", "--accounts", "12", "--hours", "4", "--start", "fixed", "--out", str(out), *extra]
    assert runner.invoke(app, args).exit_code == 0
    return out


def test_evaluate_ends_with_a_verdict_and_exits_1_when_a_target_is_missed(tmp_path: Path) -> None:
    sim = simulated(tmp_path, "a")
    result = runner.invoke(app, ["evaluate", str(sim / "events.jsonl"), str(sim / "truth.json")])
    scores = orjson.loads(runner.invoke(app, ["evaluate", str(sim / "events.jsonl"), str(sim / "truth.json"),
                                              "--json"]).stdout)[0]  # fmt: skip
    met = all(scores["targets_met"].values())
    assert result.exit_code == (0 if met else 1), result.output
    assert ("dipwatch met all 9 targets." in result.output) == met
    # A truth that expects a page nobody saw: recall is missed, and the exit code says so.
    truth = orjson.loads((sim / "truth.json").read_bytes())
    truth["incidents"].append({**truth["incidents"][0], "id": "extra", "expect": "page", "onset_ms": FIXED_START_MS + 3_000_000,
                               "end_ms": None, "recovers": False, "account": "nobody"})  # fmt: skip
    (tmp_path / "worse.json").write_bytes(orjson.dumps(truth))
    result = runner.invoke(app, ["evaluate", str(sim / "events.jsonl"), str(tmp_path / "worse.json")])
    assert result.exit_code == 1
    assert "missed" in result.output and "page recall" in result.output.split("missed", 1)[1]


def test_evaluate_warns_when_events_and_truth_do_not_belong_together(tmp_path: Path) -> None:
    sim = simulated(tmp_path, "a")
    other = write_stream(tmp_path / "other.jsonl")  # another series, another day
    result = runner.invoke(app, ["evaluate", str(other), str(sim / "truth.json")])
    assert "no series of the truth's incidents appears in the events" in result.output
    assert "no incident of the truth starts inside it" in result.output
    (tmp_path / "junk.jsonl").write_bytes(b"not json\n[]\n")
    result = runner.invoke(app, ["evaluate", str(tmp_path / "junk.jsonl"), str(sim / "truth.json")])
    assert "every one of the 2 lines was rejected" in result.output
    assert result.exit_code == 1


def test_no_pages_is_not_shown_as_full_precision(tmp_path: Path) -> None:
    sim = simulated(tmp_path, "a")
    quiet = [line for line in (sim / "events.jsonl").read_bytes().splitlines()[:50]]
    (tmp_path / "quiet.jsonl").write_bytes(b"\n".join(quiet) + b"\n")
    result = runner.invoke(app, ["evaluate", str(tmp_path / "quiet.jsonl"), str(sim / "truth.json")], env={"COLUMNS": "120"})
    row = next(line for line in result.output.splitlines() if "page precision" in line)
    assert "no pages" in row and "100.0 %" not in row


def test_version_is_printed() -> None:
    from streams import __version__

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"dipwatch {__version__}"


def test_every_reject_of_a_mostly_bad_file_gets_its_own_line_number(tmp_path: Path) -> None:
    lines = [orjson.dumps({"platform": "x", "account": "a", "metric": "m", "value": n, "ts": (T0 + n * 60_000) / 1000})
             if n % 3 else b"garbage %d" % n for n in range(3_000)]  # fmt: skip
    lines[7] = lines[3]  # a repeated bad text still numbers each occurrence
    (tmp_path / "in.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    rejects = tmp_path / "rejects.jsonl"
    result = runner.invoke(app, ["replay", str(tmp_path / "in.jsonl"), "-o", str(tmp_path / "o"), "--rejects", str(rejects)])
    assert result.exit_code == 0, result.output
    numbered = [orjson.loads(line)["line"] for line in rejects.read_bytes().splitlines()]
    assert numbered == sorted([n + 1 for n in range(3_000) if n % 3 == 0] + [8])
