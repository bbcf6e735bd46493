"""The ``llm_clock`` and ``llm_faults`` fixtures.

The plugin imports this module at start-up, so it imports nothing heavy at the top:
the clock, the flow and the fault kinds load when a test asks for a fixture.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Generator, Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .._clock import VirtualClock
    from ._plan import FaultPlan

__all__ = ["SEED_ENV", "llm_clock", "llm_faults"]

SEED_ENV = "PYTEST_LLM_SEED"
"""Environment variable that sets the seed of every ``llm_faults`` plan."""

_plan_key = pytest.StashKey["FaultPlan"]()
_failed_key = pytest.StashKey[bool]()
_REPORTER = "llm-faults-report"


class _Reporter:
    """Puts the plan (seed, what each request met) in the report of a failed test.

    Registered on first use of ``llm_faults``; a report section travels with the
    report, so it shows under xdist too.
    """

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        rep = yield
        if rep.failed:
            item.stash[_failed_key] = True
        plan = item.stash.get(_plan_key, None)
        if plan is not None and rep.failed and rep.when == "call":
            rep.sections.append(("pytest-llm faults", plan.describe()))
        return rep


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


@pytest.fixture
def llm_clock() -> Iterator[VirtualClock]:
    """Virtual time for the test: every wait of pytest-llm and the openai SDK returns at
    once and is recorded in ``llm_clock.sleeps`` (see docs/clock.md)."""
    from .._clock import VirtualClock

    with VirtualClock() as clock:
        yield clock


@pytest.fixture
def llm_faults(request: pytest.FixtureRequest, llm_clock: VirtualClock) -> Iterator[FaultPlan]:
    """The test's fault plan, on the virtual clock; at the end every scripted fault must
    have been used (see docs/faults.md)."""
    from .._flow import router
    from ._errors import FaultError
    from ._plan import FaultPlan

    item = request.node
    try:
        seed = _seed(item)
    except FaultError as exc:
        pytest.fail(str(exc), pytrace=False)
    plan = FaultPlan(seed=seed)
    if not request.config.pluginmanager.has_plugin(_REPORTER):
        request.config.pluginmanager.register(_Reporter(), _REPORTER)
    item.stash[_plan_key] = plan
    with router.activate(plan):
        yield plan
    if item.stash.get(_failed_key, False):
        return
    if plan.errors:
        # The application caught the error; the test must still fail on it.
        pytest.fail(plan.errors[0], pytrace=False)
    unused = plan.explain_unused("llm_faults")
    if unused:
        pytest.fail(unused, pytrace=False)
