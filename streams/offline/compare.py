"""dipwatch beside the usual Grafana rule: the events of each on the same lines, and their scores.

The Grafana-style rule is scored at a few pending periods, so a reader sees what holding the rule
longer buys and costs next to dipwatch's own decisions.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

from streams.engine import DetectorConfig, Update
from streams.engine.config import MINUTE_MS
from streams.formats.codec import decode_line, event_to_dict
from streams.offline.evaluate import Scores, score
from streams.offline.grafana_rule import grafana_rule_events
from streams.offline.replay import replay

#: Pending periods of the Grafana rule scored beside dipwatch, in minutes.
GRAFANA_PENDING_MIN = (0, 5, 15)

#: What a long step is shown by while it runs: a spinner in the CLI, nothing by default.
Stage = Callable[[str], AbstractContextManager[object]]


def _quietly(_: str) -> AbstractContextManager[object]:
    return nullcontext()


def detector_events(lines: list[bytes], config: DetectorConfig, stage: Stage = _quietly) -> list[tuple[str, list[dict]]]:
    """dipwatch's events first, then the Grafana-style rule's for each pending period."""
    with stage("replaying through dipwatch"):
        events, _ = replay([lines], config)
    found = [("dipwatch", [event_to_dict(e) for e in events])]
    updates = [u for u in map(decode_line, lines) if type(u) is Update]
    for pending_min in GRAFANA_PENDING_MIN:
        with stage(f"scoring the Grafana rule, pending {pending_min} min"):
            found.append((f"grafana {pending_min}m", grafana_rule_events(updates, pending_ms=pending_min * MINUTE_MS)))
    return found


def evaluate_lines(lines: list[bytes], truth: dict, config: DetectorConfig, stage: Stage = _quietly) -> list[Scores]:
    """dipwatch first, then the Grafana-style rule for each pending period."""
    return [score(found, truth, detector=name) for name, found in detector_events(lines, config, stage)]
