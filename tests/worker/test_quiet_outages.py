"""The Kafka clients' outage noise becomes a line every few seconds; everything else passes."""

from __future__ import annotations

import logging

from streams.worker.quiet_outages import OutageFilter


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def record(name: str, level: int = logging.WARNING, msg: str = "Unable connect to node with id 1") -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, (), None)


def test_an_outage_of_110_lines_a_second_for_30_s_gives_a_line_every_5_s() -> None:
    clock = Clock()
    quiet = OutageFilter(every_s=5.0, clock=clock)
    passed = []
    for tick in range(30 * 110):
        clock.now += 1 / 110
        line = record("aiokafka.conn" if tick % 2 else "faust.transport.drivers.aiokafka")
        if quiet.filter(line):
            passed.append(line.getMessage())
    assert 6 <= len(passed) <= 8
    assert "since" in passed[1] and "held back" in passed[1] and "Unable connect" in passed[1]


def test_other_loggers_and_info_lines_always_pass() -> None:
    clock = Clock()
    quiet = OutageFilter(every_s=5.0, clock=clock)
    for _ in range(100):
        quiet.filter(record("aiokafka.conn"))  # an outage under way
        assert quiet.filter(record("streams.worker", logging.ERROR))
        assert quiet.filter(record("aiokafka.conn", logging.INFO))


def test_a_new_outage_after_a_quiet_spell_is_said_at_once() -> None:
    clock = Clock()
    quiet = OutageFilter(every_s=5.0, clock=clock)
    assert quiet.filter(record("aiokafka"))
    clock.now += 1
    assert not quiet.filter(record("aiokafka"))
    clock.now += 60
    first = record("aiokafka", msg="broker down again")
    assert quiet.filter(first) and first.getMessage() == "broker down again"
