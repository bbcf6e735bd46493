"""Checks of a number given as an option, for the harness and the client alike.

A bool is not a number here (``True`` is not 1 second), and neither is NaN.
"""

from __future__ import annotations

import math
from typing import TypeGuard

__all__ = ["is_amount", "is_positive"]


def is_positive(value: object, *, finite: bool = True) -> TypeGuard[int | float]:
    """A number above 0 (not a bool, not NaN; not infinite unless ``finite=False``)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        return False
    return value > 0 and (not finite or math.isfinite(value))


def is_amount(value: object) -> TypeGuard[int | float]:
    """A finite number of 0 or more (seconds, a ratio, an estimate; not a bool, not NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return 0 <= value < math.inf
