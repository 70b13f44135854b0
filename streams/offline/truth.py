"""A truth file written by `dipwatch simulate`: reading it, and warning when it does not belong to
the events it is to score (scores of unrelated files are zeros that look like a bad detector)."""

from __future__ import annotations

from pathlib import Path

import orjson

from streams.engine import Update, series_key
from streams.errors import InputError
from streams.formats.codec import decode_lines, format_time


def read_truth(path: Path) -> dict:
    try:
        truth = orjson.loads(path.read_bytes())
    except FileNotFoundError as error:
        raise InputError(f"{path} does not exist") from error
    except orjson.JSONDecodeError as error:
        raise InputError(f"{path} is not JSON: {error}") from error
    if not isinstance(truth, dict) or "incidents" not in truth:
        raise InputError(f"{path} is not a truth file written by `dipwatch simulate`")
    return truth


def mismatch_warnings(lines: list[bytes], truth: dict) -> list[str]:
    """Why these events and this truth may not belong together."""
    updates: list[Update] = []
    rejected = 0
    for start in range(0, len(lines), 512):
        batch = [line.rstrip(b"\r\n") for line in lines[start : start + 512]]
        found, rejects = decode_lines(batch)
        updates += found
        rejected += len(rejects)
    return truth_mismatches(updates, rejected, truth)


def truth_mismatches(updates: list[Update], rejected: int, truth: dict) -> list[str]:
    """`mismatch_warnings` for updates already decoded, with the number of lines rejected."""
    if not updates and not rejected:
        return ["the events file is empty: nothing to score"]
    if not updates:
        return [f"every one of the {rejected:,} lines was rejected: nothing to score"]
    incidents = truth.get("incidents", []) + truth.get("platform_incidents", [])
    if not incidents:
        return ["the truth lists no incident: recall and precision say nothing"]
    warnings = []
    keys = {u.key for u in updates}
    platforms = {(u.platform, u.metric) for u in updates}
    series_truth = truth.get("incidents", [])
    if series_truth and not any(_truth_key(i) in keys for i in series_truth):
        warnings.append("no series of the truth's incidents appears in the events: were they written together?")
    elif not series_truth and not any((i["platform"], i["metric"]) in platforms for i in incidents):
        warnings.append("no platform and metric of the truth appears in the events")
    first, last = min(u.ts_ms for u in updates), max(u.ts_ms for u in updates)
    onsets = [int(i["onset_ms"]) for i in incidents]
    if not any(first <= onset <= last for onset in onsets):
        warnings.append(
            f"the events span {format_time(first)} to {format_time(last)}, and no incident of the truth "
            "starts inside it: were they written together?"
        )
    return warnings


def _truth_key(incident: dict) -> str:
    return series_key(incident["platform"], incident["account"], incident["metric"], incident.get("post"))
