"""dipwatch and the Grafana-style rule scored side by side on the same lines."""

from __future__ import annotations

from contextlib import contextmanager
from collections.abc import Iterator

from streams.engine import DetectorConfig
from streams.offline.compare import GRAFANA_PENDING_MIN, detector_events, evaluate_lines
from streams.offline.evaluate import score
from streams.offline.simulate import SimulationSpec, simulate

SIMULATION = simulate(SimulationSpec(seed=3, accounts=40, hours=6))


def test_dipwatch_comes_first_then_the_rule_at_each_pending_period() -> None:
    results = evaluate_lines(SIMULATION.lines, SIMULATION.truth, DetectorConfig())
    assert [r.detector for r in results] == ["dipwatch", *(f"grafana {m}m" for m in GRAFANA_PENDING_MIN)]
    # A longer pending period can only hold the rule back: it never pages more.
    rule_pages = [r.pages for r in results[1:]]
    assert rule_pages == sorted(rule_pages, reverse=True) and rule_pages[0] > 0


def test_the_scores_are_those_of_the_events_and_each_stage_is_announced() -> None:
    stages: list[str] = []

    @contextmanager
    def noting(what: str) -> Iterator[None]:
        stages.append(what)
        yield

    found = detector_events(SIMULATION.lines, DetectorConfig(), stage=noting)
    assert stages == ["replaying through dipwatch", *(f"scoring the Grafana rule, pending {m} min" for m in GRAFANA_PENDING_MIN)]
    results = evaluate_lines(SIMULATION.lines, SIMULATION.truth, DetectorConfig())
    assert [score(events, SIMULATION.truth, detector=name) for name, events in found] == results
