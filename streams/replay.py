"""Offline replay: JSON Lines of updates in, the engine, JSON Lines of anomaly events out."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from streams.codec import Rejected, decode_line, encode_event, encode_rejected
from streams.engine import AnomalyEvent, Detector, DetectorConfig, Update
from streams.errors import InputError

_BATCH = 2048  # updates handed to the engine at once: amortises the call, keeps latency trivial


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


def decode_lines(
    lines: Iterable[bytes], summary: ReplaySummary, on_reject: Callable[[Rejected], None] | None
) -> Iterator[Update]:
    """Decode records, counting rejects by reason; blank lines carry no record and are skipped."""
    rejected = summary.rejected
    for raw in lines:
        record = decode_line(raw)
        if type(record) is Update:
            yield record
        elif raw.strip():
            assert isinstance(record, Rejected)
            rejected[record.reason] += 1
            if on_reject is not None:
                on_reject(record)


def replay(
    lines: Iterable[bytes],
    config: DetectorConfig | None = None,
    on_event: Callable[[AnomalyEvent], None] | None = None,
    on_reject: Callable[[Rejected], None] | None = None,
) -> tuple[list[AnomalyEvent], ReplaySummary]:
    """Run the engine over records in arrival order; return all events and the summary."""
    summary = ReplaySummary()
    detector = Detector(config)
    events: list[AnomalyEvent] = []
    started = time.perf_counter()
    batch: list[Update] = []
    for update in decode_lines(lines, summary, on_reject):
        batch.append(update)
        if len(batch) >= _BATCH:
            events.extend(detector.observe_many(batch))
            batch.clear()
    events.extend(detector.observe_many(batch))
    events.extend(detector.flush())
    summary.seconds = time.perf_counter() - started
    summary.updates = detector.counts.updates
    summary.duplicates = detector.counts.duplicates
    summary.too_late = detector.counts.too_late
    summary.series = detector.series_count
    summary.anomalies.update(f"{e.scope.value}:{e.kind.value}" for e in events)
    if on_event is not None:
        for event in events:
            on_event(event)
    return events, summary


def replay_file(
    path: Path,
    output: BinaryIO,
    config: DetectorConfig | None = None,
    rejects: BinaryIO | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ReplaySummary:
    """The `dipwatch replay` command's work: file in, events written as JSON Lines to `output`."""
    with open_events(path) as source:
        lines: Iterable[bytes] = _with_progress(source, on_progress) if on_progress else source
        writer = _line_writer(rejects, encode_rejected) if rejects else None
        try:
            events, summary = replay(lines, config, on_reject=writer)
        except UnicodeDecodeError as error:  # binary junk is data too, but a file must be lines
            raise InputError(f"{path} is not a text file: {error.reason}") from error
    output.writelines(encode_event(event) + b"\n" for event in events)
    return summary


def _line_writer(sink: BinaryIO, encode: Callable[[Rejected], bytes]) -> Callable[[Rejected], None]:
    def write(record: Rejected) -> None:
        sink.write(encode(record) + b"\n")

    return write


def _with_progress(source: BinaryIO, on_progress: Callable[[int], None]) -> Iterator[bytes]:
    done = 0
    for index, line in enumerate(source):
        done += len(line)
        if index % 65_536 == 0:
            on_progress(done)
        yield line
    on_progress(done)
