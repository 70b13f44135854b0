"""The detector against labelled simulated streams it was not tuned on: the issue's targets."""

from __future__ import annotations

import pytest

from streams.formats.codec import event_to_dict
from streams.offline.evaluate import score, targets_met
from streams.offline.replay import replay
from streams.offline.simulate import SimulationSpec, simulate


@pytest.mark.parametrize(("mix", "seed"), [("minute", 101), ("minute", 202), ("broad", 101), ("slow", 202)])
def test_targets_are_met_on_unseen_seeds(mix: str, seed: int) -> None:
    simulation = simulate(SimulationSpec(seed=seed, accounts=120, hours=14, mix=mix))
    events, summary = replay([simulation.lines])
    scores = score([event_to_dict(e) for e in events], simulation.truth)
    assert scores.page_incidents > 10 and scores.glitch_incidents > 50  # the stream has something to judge
    assert scores.time_to_page_p90_min is not None and scores.time_to_page_p90_min <= 20.0
    assert summary.rejected.total() == simulation.truth["spec"]["malformed_lines"]
    assert {name: met for name, met in targets_met(scores).items() if not met} == {}
