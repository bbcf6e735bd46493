"""The async tests run on asyncio: the app's ``AsyncResilientClient`` is an asyncio
client (its timers and hedged attempts are asyncio tasks), as ``openai.AsyncOpenAI``
is by default. anyio's pytest plugin would also run them on trio when trio is
installed."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["asyncio"])  # the test ids (and cassette names) keep [asyncio]
def anyio_backend(request: pytest.FixtureRequest) -> str:
    backend: str = request.param
    return backend
