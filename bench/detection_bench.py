"""Detection scores over several seeds and cadence mixes, beside the Grafana rule: the README's table.

    python bench/detection_bench.py [--seeds 1-4] [--mixes minute,broad,slow] [--accounts 300]
                                    [--hours 24] [--no-grafana] [--json | --markdown]

Each (mix, seed) stream is simulated, replayed through the engine, and scored against its truth by
the same code as `dipwatch simulate --mix M` then `dipwatch evaluate`; the Grafana rule ("last value
below 98 % of the hour's max", pending 0, 5 and 15 min) is scored on the same updates. Prints, per
detector, the worst value of each metric over every stream, and dipwatch's worst per poll cadence.
`--markdown` prints the tables as they appear in the README.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from typing import Any

from rich.console import Console
from rich.progress import track

from streams.formats.codec import decode_line, event_to_dict
from streams.engine import DetectorConfig, Update
from streams.engine.config import MINUTE_MS
from streams.offline.evaluate import TARGETS, breakdown, score, targets_met
from streams.offline.grafana_rule import grafana_rule_events
from streams.offline.replay import replay
from streams.offline.simulate import SimulationSpec, simulate

#: Lower is better for these; higher for the other ratios.
_LOWER_IS_BETTER = {"glitch_page_rate", "false_recoveries", "duplicate_pages",
                    "time_to_page_p50_min", "time_to_page_p90_min"}  # fmt: skip
_SHOWN = ("page_recall", "page_precision", "glitch_page_rate", "glitch_recall", "long_glitches_handled",
          "false_recoveries", "duplicate_pages", "platform_missed", "time_to_page_p50_min",
          "time_to_page_p90_min")  # fmt: skip
_CADENCE_SHOWN = ("page_recall", "page_precision", "glitch_page_rate", "glitch_recall",
                  "long_glitches_handled", "false_recoveries", "time_to_page_p50_min", "time_to_page_p90_min")  # fmt: skip
_GRAFANA_PENDING_MIN = (0, 5, 15)


def seeds_of(text: str) -> list[int]:
    """'1-8' or '1,3,5'."""
    if "-" in text:
        first, last = text.split("-", 1)
        return list(range(int(first), int(last) + 1))
    return [int(part) for part in text.split(",")]


def score_stream(mix: str, seed: int, accounts: int, hours: float, grafana: bool) -> dict[str, Any]:
    """Every detector's scores on one simulated stream, and dipwatch's per cadence."""
    sim = simulate(SimulationSpec(seed=seed, accounts=accounts, hours=hours, mix=mix))
    events, summary = replay([sim.lines], DetectorConfig())
    found = {"dipwatch": [event_to_dict(e) for e in events]}
    if grafana:
        updates = [u for u in map(decode_line, sim.lines) if type(u) is Update]
        for pending in _GRAFANA_PENDING_MIN:
            found[f"grafana {pending}m"] = grafana_rule_events(updates, pending_ms=pending * MINUTE_MS)
    detectors = {}
    for name, detector_events in found.items():
        scores = score(detector_events, sim.truth, detector=name)
        row = scores.as_dict() | {"platform_missed": scores.platform_total - scores.platform_found}
        row["targets_met"] = targets_met(scores)
        detectors[name] = row
    cadences = {g.group: g.as_dict() for g in breakdown(found["dipwatch"], sim.truth)["cadence"]}
    if "grafana 15m" in found:  # the rule dipwatch must beat on glitches, cadence by cadence
        for g in breakdown(found["grafana 15m"], sim.truth)["cadence"]:
            cadences[g.group]["grafana_15m_glitch_page_rate"] = g.glitch_page_rate
    return {"mix": mix, "seed": seed, "updates": summary.updates, "series": summary.series,
            "incidents": len(sim.truth["incidents"]), "detectors": detectors, "cadences": cadences}  # fmt: skip


def worst(values: list[Any], metric: str) -> Any:
    present = [v for v in values if v is not None]
    if not present:
        return None
    return max(present) if metric in _LOWER_IS_BETTER or metric == "platform_missed" else min(present)


def summarise(streams: list[dict[str, Any]]) -> dict[str, Any]:
    """Worst value per metric over every stream, per detector; dipwatch's worst per cadence."""
    detectors: dict[str, dict[str, Any]] = {}
    for name in streams[0]["detectors"]:
        detectors[name] = {m: worst([s["detectors"][name][m] for s in streams], m) for m in _SHOWN}
    cadences: dict[str, dict[str, Any]] = defaultdict(dict)
    groups = sorted({g for s in streams for g in s["cadences"]}, key=lambda g: int(g.split()[0]))
    for group in groups:
        rows = [s["cadences"][group] for s in streams if group in s["cadences"]]
        cadences[group] = {m: worst([r[m] for r in rows], m) for m in _CADENCE_SHOWN}
        cadences[group]["page_incidents"] = sum(r["page_incidents"] for r in rows)
        cadences[group]["glitch_incidents"] = sum(r["glitch_incidents"] for r in rows)
        rule = [r["grafana_15m_glitch_page_rate"] for r in rows if "grafana_15m_glitch_page_rate" in r]
        cadences[group]["grafana_15m_glitch_page_rate"] = min(rule) if rule else None  # its best stream
    return {"detectors": detectors, "cadences": dict(cadences),
            "all_targets_met": all(all(s["detectors"]["dipwatch"]["targets_met"].values()) for s in streams)}  # fmt: skip


def _cell(metric: str, value: Any) -> str:
    if value is None:
        return "—"
    if metric.endswith("_min"):
        return f"{value:.1f} min"
    if isinstance(value, float):
        return f"{100 * value:.1f} %" if metric.endswith(("rate",)) else f"{value:.3f}"
    return str(value)


def markdown(summary: dict[str, Any], label: str) -> str:
    targets = {t.metric: f"{t.comparison} {t.threshold}" for t in TARGETS}
    targets |= {"platform_missed": "== 0", "time_to_page_p90_min": "<= 20.0"}
    names = list(summary["detectors"])
    lines = [f"| metric (worst of {label}) | " + " | ".join(names) + " | target |",
             "|---|" + "---|" * (len(names) + 1)]  # fmt: skip
    for metric in _SHOWN:
        cells = [_cell(metric, summary["detectors"][n][metric]) for n in names]
        lines.append(f"| {metric} | " + " | ".join(cells) + f" | {targets.get(metric, '')} |")
    lines += ["", "| dipwatch per cadence | page incidents | glitches | " + " | ".join(_CADENCE_SHOWN)
              + " | grafana_15m_glitch_page_rate (best stream) |",
              "|---|---|---|" + "---|" * (len(_CADENCE_SHOWN) + 1)]  # fmt: skip
    for group, row in summary["cadences"].items():
        cells = [_cell(m, row.get(m)) for m in (*_CADENCE_SHOWN, "grafana_15m_glitch_page_rate")]
        lines.append(f"| {group} | {row['page_incidents']} | {row['glitch_incidents']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1-4")
    parser.add_argument("--mixes", default="minute,broad,slow")
    parser.add_argument("--accounts", type=int, default=300)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--no-grafana", action="store_true", help="Score dipwatch only (faster).")
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true")
    output.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    console = Console(stderr=True)
    jobs = [(mix, seed) for mix in args.mixes.split(",") for seed in seeds_of(args.seeds)]
    streams = [score_stream(mix, seed, args.accounts, args.hours, not args.no_grafana)
               for mix, seed in track(jobs, description="simulating and scoring", console=console)]  # fmt: skip
    summary = summarise(streams)
    label = f"{len(streams)} streams: mixes {args.mixes}, seeds {args.seeds}, {args.accounts} accounts, {args.hours:g} h"
    if args.json:
        print(json.dumps({"label": label, "streams": streams, "worst": summary}, indent=2))
    elif args.markdown:
        print(markdown(summary, label))
    else:
        console.print(label)
        print(markdown(summary, label))
        for s in streams:
            d = s["detectors"]["dipwatch"]
            failed = [m for m, ok in d["targets_met"].items() if not ok]
            print(f"{s['mix']:>6} seed {s['seed']}: {s['updates']:,} updates, {s['incidents']:,} incidents; "
                  f"targets missed: {', '.join(failed) or 'none'}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
