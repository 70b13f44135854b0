"""The README's defaults table and commands stay true to the code."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from streams.engine.config import DetectorConfig
from streams.settings import WorkerSettings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_readme_defaults_table_matches_detector_config() -> None:
    rows = dict(re.findall(r"^\| `(\w+)` \| `DIPWATCH_DETECTOR__\w+` \| ([^|]+) \|", README, re.M))
    config = DetectorConfig()
    assert set(rows) == {f.name for f in fields(DetectorConfig)}
    for name, shown in rows.items():
        assert float(shown) == float(getattr(config, name)), name


def test_readme_worker_table_matches_worker_settings() -> None:
    rows = dict(re.findall(r"^\| `(\w+)` \| `DIPWATCH_WORKER__\w+` \| ([^|]+) \|", README, re.M))
    defaults = WorkerSettings()
    assert set(rows) == set(WorkerSettings.model_fields)
    for name, shown in rows.items():
        if name == "data_dir":  # per user: shown as the path a user without XDG_STATE_HOME gets
            assert Path(shown.strip()).expanduser() == Path.home() / ".local" / "state" / "dipwatch"
            continue
        assert shown.strip() == str(getattr(defaults, name)), name


def test_ci_runs_exactly_the_readme_test_command() -> None:
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert "bash deploy/local/test.sh" in README and "bash deploy/local/test.sh" in ci

