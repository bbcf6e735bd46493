"""The body of the ``llm_clock`` fixture (declared in :mod:`pytest_llm.plugin`), beside
the clock it serves.

Kept apart from :mod:`pytest_llm._clock`, which never imports pytest (the reference
client uses the clock too).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._clock import VirtualClock

__all__ = ["llm_clock"]


def llm_clock() -> Iterator[VirtualClock]:
    """Virtual time for the test (``llm_clock``)."""
    from ._clock import VirtualClock

    with VirtualClock() as clock:
        yield clock
