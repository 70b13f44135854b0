"""Offline replay: JSON Lines of updates in, the engine, JSON Lines of anomaly events out."""

from __future__ import annotations

import gc
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import BinaryIO

from streams.formats.codec import Rejected, decode_lines, encode_event, encode_rejected
from streams.engine import AnomalyEvent, Detector, DetectorConfig, Update
from streams.errors import InputError

_CHUNK_BYTES = 4 << 20  # ~33k lines per engine call: each series is visited once for dozens of updates
_DECODE_LINES = 512  # lines decoded at once: few calls per line, yet the updates stay in cache


@dataclass
class ReplaySummary:
    """What a replay read and found; printed to stderr by the CLI."""

    updates: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0
    too_late: int = 0
    series: int = 0
    anomalies: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def updates_per_s(self) -> float:
        return self.updates / self.seconds if self.seconds > 0 else 0.0


def open_events(path: Path) -> BinaryIO:
    """Open an input file or raise one clear InputError."""
    if path.is_dir():
        raise InputError(f"{path} is a directory, expected a JSON Lines file")
    try:
        return path.open("rb")
    except OSError as error:
        raise InputError(f"cannot read {path}: {error.strerror or error}") from error


def decode_chunk(
    lines: list[bytes], summary: ReplaySummary, on_reject: Callable[[Rejected], None] | None
) -> Iterator[Update]:
    """The chunk's updates, decoded a few hundred lines at a time as the engine takes them, so
    each is still in cache when taken; rejects are counted by reason."""
    return chain.from_iterable(_decoded_parts(lines, summary, on_reject))


def _decoded_parts(
    lines: list[bytes], summary: ReplaySummary, on_reject: Callable[[Rejected], None] | None
) -> Iterator[list[Update]]:
    for start in range(0, len(lines), _DECODE_LINES):
        updates, rejects = decode_lines(lines[start : start + _DECODE_LINES])
        for record in rejects:
            summary.rejected[record.reason] += 1
            if on_reject is not None:
                on_reject(record)
        yield updates


def read_chunks(source: BinaryIO, chunk_bytes: int = _CHUNK_BYTES) -> Iterator[list[bytes]]:
    """Lines in chunks of about `chunk_bytes`: one list per engine call keeps per-line overhead low."""
    tail = b""
    while block := source.read(chunk_bytes):
        lines = block.split(b"\n")
        lines[0] = tail + lines[0]  # not tail + block: that would copy the whole block once more
        tail = lines.pop()
        yield lines
    if tail:
        yield [tail]


def replay(
    chunks: Iterable[list[bytes]],
    config: DetectorConfig | None = None,
    on_reject: Callable[[Rejected], None] | None = None,
    detector: Detector | None = None,
) -> tuple[list[AnomalyEvent], ReplaySummary]:
    """Run the engine over chunks of records in arrival order; return all events and the summary.
    A `detector` passed in (benchmarks weigh its state afterwards) takes the place of `config`."""
    summary = ReplaySummary()
    detector = detector or Detector(config, track_touched=False)
    events: list[AnomalyEvent] = []
    started = time.perf_counter()
    with relaxed_gc():
        for lines in chunks:
            events.extend(detector.observe_many(decode_chunk(lines, summary, on_reject)))
            # Which series changed matters to a worker saving state, not to a replay: a detector
            # passed in may track them; dropped per chunk, the set stays the size of a chunk.
            detector.touched_keys()
    events.extend(detector.flush())
    summary.seconds = time.perf_counter() - started
    summary.updates = detector.counts.updates
    summary.duplicates = detector.counts.duplicates
    summary.too_late = detector.counts.too_late
    summary.series = detector.series_count
    summary.anomalies.update(f"{e.scope.value}:{e.kind.value}" for e in events)
    return events, summary


@contextmanager
def relaxed_gc() -> Iterator[None]:
    """Collect cycles rarely while replaying: updates and series state hold no reference cycles,
    and the default thresholds spend a quarter of the time scanning them (measured)."""
    thresholds = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


def replay_file(
    path: Path,
    output: BinaryIO,
    config: DetectorConfig | None = None,
    rejects: BinaryIO | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> tuple[list[AnomalyEvent], ReplaySummary]:
    """The `dipwatch replay` command's work: file in, events written as JSON Lines to `output`."""
    with open_events(path) as source:
        chunks = read_chunks(source)
        if on_progress is not None:
            chunks = _with_progress(chunks, source, on_progress)
        writer = _line_writer(rejects) if rejects else None
        events, summary = replay(chunks, config, on_reject=writer)
    output.writelines(encode_event(event) + b"\n" for event in events)
    return events, summary


def _line_writer(sink: BinaryIO) -> Callable[[Rejected], None]:
    def write(record: Rejected) -> None:
        sink.write(encode_rejected(record) + b"\n")

    return write


def _with_progress(
    chunks: Iterator[list[bytes]], source: BinaryIO, on_progress: Callable[[int], None]
) -> Iterator[list[bytes]]:
    for chunk in chunks:
        yield chunk
        on_progress(source.tell())
