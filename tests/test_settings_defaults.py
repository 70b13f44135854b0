"""Shipped defaults that hold on any machine: state outside the checkout, per user."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.settings import Settings

REPO = Path(__file__).resolve().parents[1]


def test_default_data_dir_is_per_user_state_outside_the_repository(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DIPWATCH_WORKER__DATA_DIR", raising=False)
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(REPO)
    data_dir = Settings().worker.data_dir
    assert data_dir == tmp_path / ".local" / "state" / "dipwatch"
    assert data_dir.is_absolute() and REPO not in data_dir.parents


def test_default_data_dir_honours_xdg_state_home_when_absolute(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("DIPWATCH_WORKER__DATA_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert Settings().worker.data_dir == tmp_path / "state" / "dipwatch"
    monkeypatch.setenv("XDG_STATE_HOME", "relative/state")  # the XDG spec says to ignore a relative one
    assert Settings().worker.data_dir == tmp_path / "home" / ".local" / "state" / "dipwatch"


def test_the_environment_still_overrides_the_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DIPWATCH_WORKER__DATA_DIR", str(tmp_path / "here"))
    assert Settings().worker.data_dir == tmp_path / "here"
