"""Rejected lines with the input line each came from: replay writes them to a spool, then one scan
of the input numbers them (rejects arrive in input order, so each is the next line with its text)."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import orjson

from streams.offline.replay import open_events


class RejectSpool:
    """The reject sink replay writes to: records go to a temporary file, so memory stays flat
    however many lines are rejected."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile()
        self.count = 0

    def write(self, data: bytes) -> int:
        self.count += 1  # replay writes one record, with its newline, per call
        return self._file.write(data)

    def numbered(self, path: Path) -> Iterator[dict]:
        """Each record with `line` (1-based, in the input) first and a detail that names the column."""
        self._file.seek(0)
        spooled = (orjson.loads(raw) for raw in self._file)
        wanted = next(spooled, None)
        if wanted is None:
            return
        with open_events(path) as source:
            for number, line in enumerate(source, 1):
                if line.rstrip(b"\n").decode("utf-8", errors="replace") != wanted["raw"]:
                    continue
                yield {"line": number, **wanted, "detail": record_detail(wanted["detail"])}
                wanted = next(spooled, None)
                if wanted is None:
                    return

    def close(self) -> None:
        self._file.close()


def record_detail(detail: str) -> str:
    """A parser's "line 1 column 69" is within the record, not the file: say "column 69".

    >>> record_detail("not JSON: unexpected end of data: line 1 column 38 (char 37)")
    'not JSON: unexpected end of data: column 38 (char 37)'
    """
    return detail.replace("line 1 column", "column").replace("line 1, column", "column")
