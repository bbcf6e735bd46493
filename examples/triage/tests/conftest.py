"""The async tests run on asyncio: the app's ``AsyncResilientClient`` is an asyncio
client (its timers and hedged attempts are asyncio tasks), as ``openai.AsyncOpenAI``
is by default. anyio's pytest plugin would also run them on trio when trio is
installed."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
