"""How long `dipwatch report` takes on a large simulated stream, and how big the page is.

    python bench/report_bench.py [--accounts 300] [--hours 24] [--seed 5] [--truth] [--repeat 2]

Writes the stream to a temporary directory, then times `build_report` (replay, picking the plotted
points, rendering) best of `--repeat`; `--truth` adds the scoring beside the Grafana rule.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import orjson

from streams.cli.report import build_report
from streams.engine import DetectorConfig
from streams.offline.simulate import FIXED_START_MS, SimulationSpec, simulate, write_simulation


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=300)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--truth", action="store_true", help="also score against the truth")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        spec = SimulationSpec(seed=args.seed, accounts=args.accounts, hours=args.hours, start_ms=FIXED_START_MS)
        events_path, truth_path = write_simulation(simulate(spec), Path(tmp))
        truth = orjson.loads(truth_path.read_bytes()) if args.truth else None
        lines = sum(1 for _ in events_path.open("rb"))
        best, size, found = float("inf"), 0, 0
        for _ in range(args.repeat):
            started = time.perf_counter()
            html, found = build_report(events_path, DetectorConfig(), truth)
            best = min(best, time.perf_counter() - started)
            size = len(html.encode())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{lines:,} lines, {found:,} events: page {size / 1e6:.1f} MB in {best:.1f} s (best of {args.repeat}); "
          f"peak RSS {peak_mb:,.0f} MB; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
