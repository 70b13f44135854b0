"""The offline commands through typer's runner: exit codes, one-line errors, the contract's replay."""

from __future__ import annotations

from pathlib import Path

import orjson
from typer.testing import CliRunner

from streams.cli import app
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
    assert "bad_value 1" in result.output and "not_json 1" in result.output
    assert [orjson.loads(line)["reason"] for line in rejects.read_bytes().splitlines()] == [
        "not_json", "bad_value"
    ]


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
    assert result.exit_code == 0, result.output
    scores = orjson.loads(result.stdout)
    assert [s["detector"] for s in scores] == ["dipwatch", "grafana 0m", "grafana 5m", "grafana 15m"]
    assert 0.0 <= scores[0]["page_recall"] <= 1.0


def test_evaluate_rejects_a_file_that_is_not_a_truth(tmp_path: Path) -> None:
    (tmp_path / "t.json").write_text("[1, 2]")
    result = runner.invoke(app, ["evaluate", str(write_stream(tmp_path / "in.jsonl")), str(tmp_path / "t.json")])
    assert result.exit_code == 2 and "not a truth file" in result.output
