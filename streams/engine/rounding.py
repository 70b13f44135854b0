"""Display rounding: how coarse a shown count is, so rounding flips are not taken for drops."""

from __future__ import annotations

_MAX_EXPONENT = 12


def display_step(*values: float) -> float:
    """The coarsest rounding step all `values` are consistent with (1 for exact counts).

    Platforms round large counts (YouTube shows three significant digits: 1.25M), so the shown
    value moves in steps of 10,000 there; a change of a step or two can be rounding alone.

    >>> display_step(1_250_000.0, 1_240_000.0)
    10000.0
    >>> display_step(1_250_000.0, 1_234_567.0)
    1.0
    >>> display_step(1_300_000.0, 1_200_000.0)
    100000.0
    >>> display_step(10_000.0, 0.0)  # a fall to zero is never rounding
    1.0
    """
    if 0.0 in values:
        return 1.0
    step = 10.0**_MAX_EXPONENT
    for value in values:
        if value != int(value):
            return 1.0
        exponent = 0
        whole = int(value)
        while exponent < _MAX_EXPONENT and whole % 10 == 0:
            whole //= 10
            exponent += 1
        step = min(step, 10.0**exponent)
    return step if step < 10.0**_MAX_EXPONENT else 1.0
