"""`faust -A streams.worker worker` finds the app the way Faust's own command line looks it up."""

from __future__ import annotations

import importlib

import faust
import pytest
from faust.cli.base import find_app

from streams.settings import load_settings


def test_faust_finds_the_worker_app_from_the_package_name() -> None:
    app = find_app("streams.worker", imp=importlib.import_module)
    assert isinstance(app, faust.App)
    assert app.conf.id == load_settings().kafka.group_id


def test_the_package_exposes_nothing_else_by_that_lookup() -> None:
    worker = importlib.import_module("streams.worker")
    with pytest.raises(AttributeError):
        worker.no_such_part  # noqa: B018 - the lookup itself is what is tested
