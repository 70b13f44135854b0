"""The README's defaults table and commands stay true to the code."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from streams.engine.config import DetectorConfig
from pydantic import SecretStr

from streams.settings import Settings, WorkerSettings

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



def shown_default(value: object) -> str:
    """A default as the README's tables write it."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if isinstance(value, bool):
        return str(value).lower()
    return str(value) if value != "" else "(empty)"


def test_readme_documents_every_setting_of_every_section_with_its_default() -> None:
    for section, field in Settings.model_fields.items():
        model = field.annotation
        rows = {name: (env, default.strip()) for name, env, default in re.findall(
            rf"^\| `(\w+)` \| `(DIPWATCH_{section.upper()}__\w+)` \| ([^|]+) \|", README, re.M)}  # fmt: skip
        assert set(rows) == set(model.model_fields), f"[{section}] table differs from {model.__name__}"
        defaults = model()
        for name, (env, shown) in rows.items():
            assert env == f"DIPWATCH_{section.upper()}__{name.upper()}", env
            if section in ("detector",) or (section, name) == ("worker", "data_dir"):
                continue  # checked above: numbers compared as numbers, the per-user path
            assert shown == shown_default(getattr(defaults, name)), f"{section}.{name}"
        assert f"TOML section `[{section}]`" in README


def readme_dipwatch_commands() -> list[str]:
    """Every `dipwatch …` line of the README's indented command blocks, without its comment."""
    commands = []
    for line in re.findall(r"^    (dipwatch .+)$", README, re.M):
        for command in line.split("#", 1)[0].split("&&"):
            if command.strip().startswith("dipwatch "):
                commands.append(command.strip())
    return commands


def test_every_command_the_readme_prints_parses() -> None:
    import shlex

    import typer

    from streams.cli import app

    commands = readme_dipwatch_commands()
    assert {"dipwatch worker", "dipwatch topics", "dipwatch influx init"} <= set(commands)
    root = typer.main.get_command(app)
    for command in commands:
        args = shlex.split(command)[1:]
        group = root
        while hasattr(group, "resolve_command"):  # a group: descend (typer ships its own click)
            name, group, args = group.resolve_command(group.make_context("dipwatch", list(args)), args)
            assert group is not None, f"README: {command!r}: no command {name}"
        group.make_context("dipwatch", list(args))  # raises on an unknown option or a bad value


def test_every_repository_path_the_readme_names_exists() -> None:
    # A module that moves leaves its old path behind in the prose; this names it.
    repo = Path(__file__).resolve().parents[1]
    named = set(re.findall(r"`((?:streams|tests|bench|deploy|docs|dashboards)/[\w./-]*)`", README))
    assert len(named) > 20  # the pattern still finds the layout table's paths
    missing = sorted(path for path in named if not (repo / path).exists())
    assert not missing, f"README names paths that do not exist: {missing}"
