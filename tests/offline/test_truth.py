"""A truth file is read with a clear error, and warns when it does not belong to the events."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from streams.errors import InputError
from streams.offline.simulate import SimulationSpec, simulate
from streams.offline.truth import mismatch_warnings, read_truth

SIMULATION = simulate(SimulationSpec(seed=3, accounts=40, hours=6))


def test_the_simulation_s_own_truth_raises_no_warning() -> None:
    assert mismatch_warnings(SIMULATION.lines, SIMULATION.truth) == []


def test_a_truth_of_other_series_and_times_warns_twice() -> None:
    other = simulate(SimulationSpec(seed=3, accounts=40, hours=6, start_ms=SIMULATION.truth["incidents"][0]["onset_ms"] + 10 * 86_400_000))
    renamed = {**other.truth, "incidents": [{**i, "account": "nobody"} for i in other.truth["incidents"]]}
    warnings = mismatch_warnings(SIMULATION.lines, renamed)
    assert len(warnings) == 2
    assert "no series of the truth's incidents" in warnings[0] and "no incident of the truth starts inside" in warnings[1]


@pytest.mark.parametrize(
    ("lines", "truth", "warning"),
    [
        ([], SIMULATION.truth, "the events file is empty: nothing to score"),
        ([b"not json", b"{}"], SIMULATION.truth, "every one of the 2 lines was rejected: nothing to score"),
        (SIMULATION.lines[:100], {"incidents": []}, "the truth lists no incident: recall and precision say nothing"),
    ],
)
def test_nothing_to_score_is_said_in_one_warning(lines: list[bytes], truth: dict, warning: str) -> None:
    assert mismatch_warnings(lines, truth) == [warning]


def test_read_truth_names_what_is_wrong_with_the_file(tmp_path: Path) -> None:
    good = tmp_path / "truth.json"
    good.write_bytes(orjson.dumps(SIMULATION.truth))
    assert read_truth(good) == orjson.loads(orjson.dumps(SIMULATION.truth))
    (tmp_path / "list.json").write_bytes(b"[1, 2]")
    (tmp_path / "broken.json").write_bytes(b"{")
    for name, reason in (("missing.json", "does not exist"), ("broken.json", "is not JSON"),
                         ("list.json", "is not a truth file written by `dipwatch simulate`")):  # fmt: skip
        with pytest.raises(InputError, match=reason):
            read_truth(tmp_path / name)
