"""The body of the ``llm_faults`` fixture (declared in :mod:`pytest_llm.plugin`).

It loads when a test first asks for the fixture; the flow and the fault kinds load
when it first runs.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from .._outcome import annotate, serve

if TYPE_CHECKING:
    from .._clock import VirtualClock
    from ._plan import FaultPlan

__all__ = ["SEED_ENV", "llm_faults"]

SEED_ENV = "PYTEST_LLM_SEED"
"""Environment variable that sets the seed of every ``llm_faults`` plan."""


def _seed(item: pytest.Item) -> int:
    """The env's seed if set, else one derived from the test id: stable run to run."""
    raw = os.environ.get(SEED_ENV, "").strip()
    if raw:
        try:
            return int(raw)
        except ValueError:
            from ._errors import FaultError

            raise FaultError(
                f"{SEED_ENV}={raw!r}: the seed must be an int.\n"
                f"Fix: set a whole number, e.g. {SEED_ENV}=1234, or unset it."
            ) from None
    return zlib.crc32(item.nodeid.encode())


def llm_faults(request: pytest.FixtureRequest, llm_clock: VirtualClock) -> Iterator[FaultPlan]:
    """The test's fault plan, on the virtual clock (``llm_faults``)."""
    from ._errors import FaultError
    from ._plan import FaultPlan

    item = request.node
    try:
        seed = _seed(item)
    except FaultError as exc:
        pytest.fail(str(exc), pytrace=False)
    plan = FaultPlan(seed=seed)
    plan.owner = "llm_faults"

    def describe(rep: pytest.TestReport) -> None:
        # the seed and what each request met, in the report of a failed test (xdist too)
        if rep.failed and rep.when == "call":
            rep.sections.append(("pytest-llm faults", plan.describe()))

    annotate(item, describe)
    yield from serve(item, plan)
