"""Where replay's time goes: a py-spy flame graph of one replay and a table of own time per function.

    python bench/flame.py [--series 1000000] [--updates 3] [--name replay-1m]

Replays the file bench/scale.py writes for that size (written first if missing) under
`py-spy record`, then writes bench/results/NAME.svg (the flame graph) and NAME.md (the functions
with the most own time, and the share of the three stages: reading, decoding, the engine).
Needs py-spy (`pip install -e '.[bench]'` or `pip install py-spy`).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import REPO, input_file  # noqa: E402

RESULTS = REPO / "bench" / "results"
_REPLAY = "import sys; from pathlib import Path; from streams.offline.replay import replay_file; " \
          "replay_file(Path(sys.argv[1]), open('/dev/null', 'wb'))"  # fmt: skip
STAGES = (("engine", "streams/engine/"), ("decoding", "streams/formats/codec.py"), ("reading", "streams/offline/replay.py"))


def record(path: Path, out: Path, raw: Path, rate: int, tree: Path) -> None:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(tree), os.environ.get("PYTHONPATH")])))
    for fmt, target in (("flamegraph", out), ("raw", raw)):
        command = ["py-spy", "record", "-r", str(rate), "-f", fmt, "-o", str(target), "--",
                   sys.executable, "-c", _REPLAY, str(path)]  # fmt: skip
        subprocess.run(command, env=env, check=True, capture_output=True)


def summarise(raw: Path, top: int, tree: Path) -> tuple[list[tuple[str, float]], dict[str, float]]:
    """Own time per function, and each stage's share (a sample counts for the innermost dipwatch frame)."""
    own: Counter[str] = Counter()
    stages: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        samples = int(count)
        total += samples
        frames = stack.split(";")
        own[re.sub(r":\d+\)$", ")", frames[-1]).replace(str(tree) + "/", "")] += samples
        stage = next((name for frame in reversed(frames) for name, marker in STAGES if marker in frame), "other")
        stages[stage] += samples
    total = max(total, 1)
    return ([(name, 100 * n / total) for name, n in own.most_common(top)],
            {name: 100 * n / total for name, n in stages.most_common()})  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=1_000_000)
    parser.add_argument("--updates", type=int, default=3)
    parser.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=20)
    parser.add_argument("--name", default=None, help="file name stem (default replay-<series>)")
    parser.add_argument("--tree", type=Path, default=REPO,
                        help="the source tree whose streams package is profiled (an older commit's, to compare)")
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "dipwatch-scale")
    args = parser.parse_args()
    if shutil.which("py-spy") is None:
        raise SystemExit("py-spy is not installed: pip install py-spy")
    name = args.name or f"replay-{args.series}"
    path = input_file(args.cache, args.series, args.updates)
    RESULTS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "stacks.txt"
        record(path, RESULTS / f"{name}.svg", raw, args.rate, args.tree.resolve())
        functions, stages = summarise(raw, args.top, args.tree.resolve())
    lines = [f"py-spy, {args.rate} samples/s, `replay_file` of {args.series:,} series × {args.updates} updates "
             f"(the machine is shared: shares are steadier than times).", "",
             "| stage (innermost dipwatch frame) | share |", "|---|---:|"]  # fmt: skip
    lines += [f"| {stage} | {share:.1f} % |" for stage, share in stages.items()]
    lines += ["", "| function (own time) | share |", "|---|---:|"]
    lines += [f"| `{function}` | {share:.1f} % |" for function, share in functions]
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
