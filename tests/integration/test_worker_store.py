"""The worker on its shipped default store (rocksdb://): checkpoints write RocksDB, a restart reads it back."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.settings import WorkerSettings
from tests.integration.test_worker import Run, expect_series_anomalies, kill_and_restart, stream  # noqa: F401

pytestmark = pytest.mark.integration


class DefaultStoreRun(Run):
    """A run whose workers get no store setting, so they use the default one."""

    def env(self, index: int) -> dict[str, str]:
        env = super().env(index)
        del env["DIPWATCH_WORKER__STORE"]
        return env


@pytest.fixture
def default_store_run(tmp_path: Path, kafka_broker: str) -> Iterator[Run]:
    current = DefaultStoreRun(tmp_path, kafka_broker)
    yield current
    current.stop()


def test_killed_worker_on_the_default_store_restarts_from_its_rocksdb_state(default_store_run: Run, stream) -> None:  # noqa: F811
    assert WorkerSettings().store == "rocksdb://"
    lines, expected = stream
    kill_and_restart(default_store_run, lines, with_incident_open=True)
    published = expect_series_anomalies(default_store_run, expected)
    assert set(published) == expected
    pages = Counter(i for i in published if i.endswith(":sustained_drop"))
    assert [i for i, n in pages.items() if n > 1] == []
    data_dir = default_store_run.tmp_path / "data0"
    assert any(path.name.endswith(".db") or path.suffix == ".sst" for path in data_dir.rglob("*")), "no RocksDB files"
