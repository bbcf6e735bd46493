"""The body of the ``llm_server`` fixture (declared in :mod:`pytest_llm.plugin`), beside
the server it serves; the server loads when it first runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from .._outcome import failed

if TYPE_CHECKING:
    from ._server import LLMServer

__all__ = ["llm_server"]


def llm_server(request: pytest.FixtureRequest) -> Iterator[LLMServer]:
    """The loopback server for the test (``llm_server``), with each SDK's base URL
    variable set to it."""
    from ._server import LLMServer

    server = LLMServer()
    mp = pytest.MonkeyPatch()
    with server:
        for name, value in server.env.items():
            if name.endswith("_BASE_URL") or not os.environ.get(name):
                mp.setenv(name, value)
        try:
            yield server
        finally:
            mp.undo()
    if server.errors and not failed(request.node):
        more = len(server.errors) - 1
        extra = (
            f"\n({more} more error{'s' if more > 1 else ''} in llm_server.errors)" if more else ""
        )
        pytest.fail(f"llm_server: {server.errors[0]}{extra}", pytrace=False)
