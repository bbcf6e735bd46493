"""Fixtures of the client's end-to-end tests; the helpers are in ``client_helpers.py``."""

from __future__ import annotations

import pytest
from client_helpers import Mode

from pytest_llm import VirtualClock


@pytest.fixture(params=[False, True], ids=["sync", "async"])
def mode(request: pytest.FixtureRequest, llm_clock: VirtualClock) -> Mode:
    """Runs the test once with the sync client and once with the async one."""
    return Mode(is_async=request.param, clock=llm_clock)
