"""How replay's time and memory grow from 1k to 1M series: the scaling curve.

    python bench/scale.py [--sizes 1000,10000,100000,1000000] [--updates 3] [--repeat 3]

For each size a JSON Lines file is written once (cached under --cache) with the same number of
updates per series: rounds of one poll a minute, every series once per round, in the simulator's
line format, counts growing slowly so nothing is decided (the common case: an update that changes
nothing). Each size then runs in a fresh Python process, which

* replays the file as `dipwatch replay` does (`replay_file`, events to /dev/null) and reads its
  peak RSS (VmHWM) against the RSS before the replay: bytes per series = (peak - before) / series;
* repeats the replay and a bare decode of the same file (read the lines, `orjson.loads` each,
  nothing else) in alternation, best of --repeat each: the ratio is replay time over bare time.
  Times are the process's CPU time, not the wall clock: on a machine shared with other jobs the
  wall clock also counts the time the process waited for a core;
* weighs the detector's state part by part with `sys.getsizeof`, objects shared between series
  (interned names) counted once, and cross-checks the total with tracemalloc at the smaller sizes.

Writes bench/scale.md (the table the README shows), bench/scale.png (the curve) and bench/scale.json.
With --baseline-tree (the source of an older commit, e.g. from `git archive`), each size is also run
against it right before, under the same load, into bench/results/scale-before.{md,json}.
The plot needs matplotlib: `pip install -e '.[bench]'` or `pip install matplotlib`.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from array import array
from collections import deque
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
DEFAULT_SIZES = (1_000, 10_000, 100_000, 1_000_000)
START_S = 1_795_003_200  # 2026-11-18T12:00:00Z: a fixed start, so the files are the same on any day
PLATFORMS = ("x", "instagram", "tiktok", "youtube")
METRICS = ("followers", "likes", "views")
SERIES_PER_ACCOUNT = 10  # an account's followers, and likes/views of its recent posts
TRACEMALLOC_UP_TO = 100_000  # above this, tracing the allocations would take minutes


# -- the input -----------------------------------------------------------------------------------


def series_names(index: int) -> tuple[str, str, str, str | None]:
    """(platform, account, metric, post) of series `index`: one account-level count per account
    and posts for the rest, as the simulator mixes them."""
    account, slot = divmod(index, SERIES_PER_ACCOUNT)
    platform = PLATFORMS[account % len(PLATFORMS)]
    if slot == 0:
        return platform, f"acct{account:07d}", "followers", None
    return platform, f"acct{account:07d}", METRICS[1 + slot % 2], f"p{slot // 2}"


def input_lines(series: int, updates: int) -> Iterator[bytes]:
    """Every series once per round, one round a minute; pollers stamp a batch alike, so series
    share their second within the round."""
    prefixes = []
    for index in range(series):
        platform, account, metric, post = series_names(index)
        post_json = "null" if post is None else f'"{post}"'
        prefix = f'{{"platform":"{platform}","account":"{account}","metric":"{metric}","post":{post_json},"value":'
        prefixes.append((prefix.encode(), 1_000 + (index * 7_919) % 90_000))
    for round_ in range(updates):
        stamps = [time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(START_S + round_ * 60 + s)).encode()
                  for s in range(60)]  # fmt: skip
        for index, (prefix, base) in enumerate(prefixes):
            yield b'%b%d,"ts":"%b"}' % (prefix, base + round_ * (index % 3), stamps[index % 60])


def input_file(cache: Path, series: int, updates: int) -> Path:
    path = cache / f"scale-{series}x{updates}.jsonl"
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        with partial.open("wb") as out:
            batch: list[bytes] = []
            for line in input_lines(series, updates):
                batch.append(line)
                if len(batch) >= 65_536:
                    out.write(b"\n".join(batch) + b"\n")
                    batch.clear()
            if batch:
                out.write(b"\n".join(batch) + b"\n")
        partial.rename(path)
    return path


# -- one size, in a fresh process ----------------------------------------------------------------


def status_kb(name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {name} in /proc/self/status")


def bare_decode_s(path: Path) -> tuple[float, int]:
    """Read and decode every line with orjson, nothing else: the floor replay is compared with."""
    import orjson

    loads, count = orjson.loads, 0
    started = time.process_time()
    with path.open("rb") as source:
        for line in source:
            loads(line)
            count += 1
    return time.process_time() - started, count


def replay_once(path: Path) -> tuple[float, Any, Any]:
    from streams.formats.codec import encode_event
    from streams.engine import Detector
    from streams.offline.replay import read_chunks, replay

    detector = _replay_detector()
    started = time.process_time()
    with path.open("rb") as source, open(os.devnull, "wb") as sink:
        events, summary = replay(read_chunks(source), detector=detector)
        sink.writelines(encode_event(event) + b"\n" for event in events)
    return time.process_time() - started, summary, detector


def _replay_detector() -> Any:
    """The detector `dipwatch replay` makes: without the touched-series set where the tree has
    that option (an older tree, measured as a baseline, has not)."""
    from streams.engine import Detector

    try:
        return Detector(track_touched=False)
    except TypeError:
        return Detector()


def before_flush(path: Path) -> Any:
    """A detector that has taken every update of the file but not the final flush: with a few
    updates per series, all of them still wait in the pending lists then (the 5-minute lateness
    allowance), which is where the peak RSS is reached."""
    from streams.engine import Detector
    from streams.offline.replay import ReplaySummary, decode_chunk, read_chunks, relaxed_gc

    detector, summary = _replay_detector(), ReplaySummary()
    with path.open("rb") as source, relaxed_gc():
        for lines in read_chunks(source):
            detector.observe_many(decode_chunk(lines, summary, None))
            detector.touched_keys()  # as replay does
    return detector


_SCALARS = (int, float, bool, type(None))


def _attributes(obj: object) -> list[tuple[str, object]]:
    """An object's attributes, slotted or not (what a deep size has to follow)."""
    names = [name for cls in type(obj).__mro__ for name in getattr(cls, "__slots__", ()) if name != "__weakref__"]
    found = [(name, getattr(obj, name)) for name in names if hasattr(obj, name)]
    return found + list(getattr(obj, "__dict__", {}).items())


def deep_size(obj: object, seen: set[int]) -> int:
    """Bytes of `obj` and everything it refers to that `seen` has not counted yet."""
    if id(obj) in seen or isinstance(obj, type):
        return 0
    seen.add(id(obj))
    total = sys.getsizeof(obj)
    if isinstance(obj, (str, bytes, Enum, *_SCALARS)):
        return total
    if isinstance(obj, dict):
        return total + sum(deep_size(k, seen) + deep_size(v, seen) for k, v in obj.items())
    if isinstance(obj, (list, tuple, set, frozenset, deque)):
        return total + sum(deep_size(item, seen) for item in obj)
    if isinstance(obj, array):
        return total
    return total + sum(deep_size(value, seen) for _, value in _attributes(obj))


def weigh(detector: Any, sample: int = 20_000) -> dict[str, float]:
    """Bytes per series, part by part, over a sample of series (shared objects such as interned
    names or the config counted once), plus the detector's other attributes divided by the
    series count. Generic over the state's layout, so it keeps working as the engine changes."""
    series_map = detector._series  # noqa: SLF001 - a benchmark looks inside
    seen = {id(detector.config)}
    parts: dict[str, int] = {}

    def add(label: str, size: int) -> None:
        parts[label] = parts.get(label, 0) + size

    states = list(series_map.values())[:sample]
    for state in states:
        add("state object", sys.getsizeof(state))
        seen.add(id(state))
        for name, value in _attributes(state):
            if isinstance(value, str):
                label = "strings (key, names)"
            elif isinstance(value, _SCALARS):
                label = "numbers (int and float fields)"
            else:
                label = name
            add(label, deep_size(value, seen))
    per_series = {name: round(total / max(len(states), 1), 1) for name, total in parts.items()}
    seen.update(id(key) for key in series_map)  # every key is counted above, in its series' share
    count = max(len(series_map), 1)
    per_series["series map (detector)"] = round(sys.getsizeof(series_map) / count, 1)
    for name, value in _attributes(detector):
        if value is not series_map and not isinstance(value, _SCALARS) and name != "config":
            per_series[f"detector.{name}"] = round(deep_size(value, seen) / count, 1)
    per_series["total"] = round(sum(per_series.values()), 1)
    return per_series


def measure(path: Path, series: int, repeat: int) -> dict[str, Any]:
    """The child's work: one size, figures as JSON on stdout."""
    import streams.offline.replay  # noqa: F401 - imported before the baseline RSS is read

    gc.collect()
    rss_before_kb = status_kb("VmRSS")
    seconds, summary, detector = replay_once(path)
    peak_kb = status_kb("VmHWM")
    rss_after_kb = status_kb("VmRSS")
    breakdown = weigh(detector)
    if summary.series != series:
        raise SystemExit(f"replay saw {summary.series} series, the file has {series}")
    del detector
    gc.collect()
    held = before_flush(path)
    breakdown_before_flush = weigh(held)
    del held
    gc.collect()
    replay_times, bare_times = [seconds], []
    for attempt in range(repeat):
        bare_s, lines = bare_decode_s(path)
        bare_times.append(bare_s)
        if attempt + 1 < repeat:
            replay_times.append(replay_once(path)[0])
    traced = traced_bytes_per_series(path, series) if series <= TRACEMALLOC_UP_TO else None
    replay_s, bare_s = min(replay_times), min(bare_times)
    return {
        "series": series,
        "updates": summary.updates,
        "lines": lines,
        "file_mb": round(path.stat().st_size / 1e6, 1),
        "replay_s": round(replay_s, 3),
        "updates_per_s": round(summary.updates / replay_s),
        "bare_orjson_lines_per_s": round(lines / bare_s),
        "ratio_to_bare_decode": round(replay_s / bare_s, 2),
        "rss_before_mb": round(rss_before_kb / 1024, 1),
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "rss_after_mb": round(rss_after_kb / 1024, 1),
        "peak_rss_bytes_per_series": round((peak_kb - rss_before_kb) * 1024 / series),
        "heap_bytes_per_series_traced": traced,
        "breakdown_bytes_per_series": breakdown,
        "breakdown_before_flush_bytes_per_series": breakdown_before_flush,
        "anomalies": sum(summary.anomalies.values()),
        "rejected": sum(summary.rejected.values()),
    }


def traced_bytes_per_series(path: Path, series: int) -> float:
    """Python heap the detector still holds after the replay, per series, by tracemalloc."""
    import tracemalloc

    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    _, _, detector = replay_once(path)
    gc.collect()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del detector
    return round(held / series, 1)


# -- the parent: sizes, table, plot --------------------------------------------------------------


def run_size(path: Path, series: int, repeat: int, tree: Path) -> dict[str, Any]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(tree), os.environ.get("PYTHONPATH")])))
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(path), "--series", str(series),
               "--repeat", str(repeat)]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        raise SystemExit(f"size {series:,} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def markdown_table(results: list[dict[str, Any]], updates: int, load: str) -> str:
    rows = [
        f"Replay of {updates} updates per series, one core, CPU time, best of the repeats; {load}.",
        "",
        "| series | updates | updates/s | bare orjson lines/s | replay / bare decode | peak RSS | RSS bytes/series | heap bytes/series (tracemalloc) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]  # fmt: skip
    for r in results:
        traced = r["heap_bytes_per_series_traced"]
        rows.append(
            f"| {r['series']:,} | {r['updates']:,} | {r['updates_per_s']:,} | {r['bare_orjson_lines_per_s']:,} | "
            f"{r['ratio_to_bare_decode']:.2f}× | {r['peak_rss_mb']:,.0f} MB | {r['peak_rss_bytes_per_series']:,} | "
            f"{'-' if traced is None else f'{traced:,.0f}'} |"
        )
    largest = results[-1]
    rows += ["", f"Where a series' bytes go at {largest['series']:,} series (`sys.getsizeof`, shared objects once), "
             "when every update has been taken but the final flush has not run (all updates still pending: the "
             "peak) and after the replay:", "",
             "| part | before the flush | after the replay |", "|---|---:|---:|"]  # fmt: skip
    after, before = largest["breakdown_bytes_per_series"], largest["breakdown_before_flush_bytes_per_series"]
    for name in before:
        rows.append(f"| {name} | {before[name]:,.0f} | {after.get(name, 0):,.0f} |")
    return "\n".join(rows) + "\n"


def plot(results: list[dict[str, Any]], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    sizes = [r["series"] for r in results]
    fig, (speed, memory) = plt.subplots(1, 2, figsize=(8, 3), dpi=100)
    speed.plot(sizes, [r["updates_per_s"] / 1e6 for r in results], "o-", label="replay updates/s")
    speed.plot(sizes, [r["bare_orjson_lines_per_s"] / 1e6 for r in results], "s--", label="bare orjson lines/s")
    speed.set(xscale="log", xlabel="series", ylabel="million per second", ylim=(0, None), title="throughput")
    speed.legend(fontsize=8)
    memory.plot(sizes, [r["peak_rss_bytes_per_series"] for r in results], "o-", label="peak RSS delta")
    memory.plot(sizes, [r["breakdown_before_flush_bytes_per_series"]["total"] for r in results], "^:",
                label="state at the peak (getsizeof)")  # fmt: skip
    memory.axhline(1024, color="grey", linewidth=0.8, linestyle="--", label="1 KiB")
    memory.set(xscale="log", xlabel="series", ylabel="bytes per series", ylim=(0, None), title="memory")
    memory.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(str(s) for s in DEFAULT_SIZES))
    parser.add_argument("--updates", type=int, default=3, help="updates per series")
    parser.add_argument("--repeat", type=int, default=3,
                        help="replays and bare decodes per size, more for small sizes (the best is kept)")
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "dipwatch-scale")
    parser.add_argument("--out", type=Path, default=BENCH, help="where scale.md, scale.png, scale.json go")
    parser.add_argument("--tree", type=Path, default=REPO, help="the source tree whose streams package is measured")
    parser.add_argument("--baseline-tree", type=Path, default=None,
                        help="also measure this tree's streams package, size by size (an older commit's)")
    parser.add_argument("--load", default=None, help="how loaded the machine was, for the table's caption")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--series", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(measure(args.child, args.series, args.repeat)))
        return 0

    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    console = Console(stderr=True)
    load_before = os.getloadavg()[0]
    results, baseline = [], []
    with Progress(console=console) as progress:
        task = progress.add_task("scaling curve", total=(3 if args.baseline_tree else 2) * len(sizes))
        for series in sizes:
            progress.update(task, description=f"writing {series:,} series × {args.updates}")
            path = input_file(args.cache, series, args.updates)
            progress.advance(task)
            # Small files replay in milliseconds: more repeats, so the best of them is not noise.
            repeat = max(args.repeat, min(50, 300_000 // (series * args.updates)))
            if args.baseline_tree:
                progress.update(task, description=f"replaying {series:,} series (baseline)")
                baseline.append(run_size(path, series, repeat, args.baseline_tree.resolve()))
                progress.advance(task)
            progress.update(task, description=f"replaying {series:,} series")
            results.append(run_size(path, series, repeat, args.tree.resolve()))
            progress.advance(task)
    load = args.load or (f"1-min load {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, "
                         f"on {os.cpu_count()} cores shared with other jobs")  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "scale.json").write_text(json.dumps({"updates_per_series": args.updates, "load": load,
                                                     "results": results}, indent=2) + "\n")  # fmt: skip
    (args.out / "scale.md").write_text(markdown_table(results, args.updates, load))
    if baseline:
        (BENCH / "results").mkdir(exist_ok=True)
        (BENCH / "results" / "scale-before.json").write_text(json.dumps(
            {"updates_per_series": args.updates, "load": load, "tree": str(args.baseline_tree), "results": baseline},
            indent=2) + "\n")  # fmt: skip
        (BENCH / "results" / "scale-before.md").write_text(markdown_table(baseline, args.updates, load))
    plotted = plot(results, args.out / "scale.png")

    table = Table(title=f"replay scaling ({args.updates} updates per series; {load})")
    for column in ("series", "updates/s", "bare lines/s", "× bare", "peak RSS MB", "RSS B/series",
                   "traced B/series", "state B/series"):  # fmt: skip
        table.add_column(column, justify="right")
    for r in results:
        traced = r["heap_bytes_per_series_traced"]
        table.add_row(f"{r['series']:,}", f"{r['updates_per_s']:,}", f"{r['bare_orjson_lines_per_s']:,}",
                      f"{r['ratio_to_bare_decode']:.2f}", f"{r['peak_rss_mb']:,}", f"{r['peak_rss_bytes_per_series']:,}",
                      "-" if traced is None else f"{traced:,}", f"{r['breakdown_bytes_per_series']['total']:,}")  # fmt: skip
    out = Console() if Console().is_terminal else Console(width=150)
    out.print(table)
    breakdown = Table(title=f"bytes per series at {results[-1]['series']:,} series")
    breakdown.add_column("part")
    breakdown.add_column("before the flush", justify="right")
    breakdown.add_column("after the replay", justify="right")
    after, before = results[-1]["breakdown_bytes_per_series"], results[-1]["breakdown_before_flush_bytes_per_series"]
    for name in before:
        breakdown.add_row(name, f"{before[name]:,}", f"{after.get(name, 0):,}")
    out.print(breakdown)
    written = "scale.md, scale.json" + (", scale.png" if plotted else " (no matplotlib: no plot)")
    console.print(f"wrote {written} in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
