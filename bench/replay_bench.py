"""Replay throughput on one core beside the bare orjson decode of the same file, and bytes per series.

    python bench/replay_bench.py [--accounts 300] [--hours 24] [--repeat 3]

Prints a table; `--json` prints the figures for the README. Best of `--repeat` runs.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import sys
import time
import tracemalloc
from pathlib import Path

import orjson
from rich.console import Console
from rich.table import Table

from streams.engine import Detector, DetectorConfig, Update
from streams.offline.replay import read_chunks, relaxed_gc, replay
from streams.offline.simulate import SimulationSpec, simulate


def bare_decode_rate(data: bytes) -> float:
    """Read and decode every line with orjson, nothing else: the floor replay is compared with."""
    started = time.perf_counter()
    count = 0
    loads = orjson.loads
    for line in io.BytesIO(data):
        try:
            loads(line)
        except orjson.JSONDecodeError:
            pass
        count += 1
    return count / (time.perf_counter() - started)


def replay_rate(data: bytes) -> tuple[float, int, int]:
    started = time.perf_counter()
    events, summary = replay(read_chunks(io.BytesIO(data)))
    return summary.updates / (time.perf_counter() - started), summary.updates, len(events)


def bytes_per_series(series: int = 20_000, updates_each: int = 40) -> float:
    """Python heap held by the detector per series, after each series has seen `updates_each`."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    detector = Detector(DetectorConfig())
    with relaxed_gc():
        for minute in range(updates_each):
            batch = [
                Update("x", f"acct{i}", "followers", None, float(10_000 + i + minute), minute * 60_000)
                for i in range(series)
            ]
            detector.observe_many(batch)
    detector.flush()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return held / series


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=300)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    console = Console(stderr=True)
    with console.status("simulating the input"):
        sim = simulate(SimulationSpec(seed=args.seed, accounts=args.accounts, hours=args.hours))
        data = b"\n".join(sim.lines) + b"\n"
    bare = max(bare_decode_rate(data) for _ in range(args.repeat))
    runs = [replay_rate(data) for _ in range(args.repeat)]
    best = max(run[0] for run in runs)
    per_series = bytes_per_series()
    figures = {
        "lines": len(sim.lines),
        "file_mb": round(len(data) / 1e6, 1),
        "bare_orjson_decode_per_s": round(bare),
        "replay_updates_per_s": round(best),
        "slowdown_vs_bare_decode": round(bare / best, 2),
        "anomalies": runs[0][2],
        "bytes_per_series_in_memory": round(per_series),
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    table = Table(title=f"replay benchmark ({Path(sys.executable).name}, one core, best of {args.repeat})")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for name, value in figures.items():
        table.add_row(name.replace("_", " "), f"{value:,}" if isinstance(value, int) else str(value))
    Console().print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
