"""The detector against labelled simulated streams it was not tuned on: the issue's targets."""

from __future__ import annotations

import pytest

from streams.codec import event_to_dict
from streams.evaluate import score, targets_met
from streams.replay import replay
from streams.simulate import SimulationSpec, simulate


@pytest.mark.parametrize("seed", [101, 202])
def test_targets_are_met_on_unseen_seeds(seed: int) -> None:
    simulation = simulate(SimulationSpec(seed=seed, accounts=120, hours=14))
    events, summary = replay([simulation.lines])
    scores = score([event_to_dict(e) for e in events], simulation.truth)
    assert scores.page_incidents > 10 and scores.glitch_incidents > 50  # the stream has something to judge
    assert summary.rejected.total() == simulation.truth["spec"]["malformed_lines"]
    assert {name: met for name, met in targets_met(scores).items() if not met} == {}
