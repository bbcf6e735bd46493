"""The ``llm_clock`` fixture, beside the clock it serves.

Kept apart from :mod:`pytest_llm._clock`, which never imports pytest (the reference
client uses the clock too).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from ._clock import VirtualClock

__all__ = ["llm_clock"]


@pytest.fixture
def llm_clock() -> Iterator[VirtualClock]:
    """Virtual time for the test: every wait of pytest-llm and the openai SDK returns at
    once and is recorded in ``llm_clock.sleeps`` (see docs/clock.md)."""
    from ._clock import VirtualClock

    with VirtualClock() as clock:
        yield clock
