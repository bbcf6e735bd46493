"""AsyncResilientClient is an asyncio client: under trio it says so, with the fix."""

from __future__ import annotations

import pytest

from pytest_llm.client import AsyncResilientClient, ClientConfigError

trio = pytest.importorskip("trio")


def test_under_trio_the_async_client_says_it_needs_asyncio() -> None:
    client = AsyncResilientClient(
        routes=["gpt-4o-mini"], api_key="sk-test", base_url="http://127.0.0.1:9/v1"
    )

    async def main() -> None:
        await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )

    with pytest.raises(ClientConfigError) as info:
        trio.run(main)
    assert str(info.value).splitlines() == [
        "AsyncResilientClient runs on asyncio (its timers and hedged attempts are asyncio "
        "tasks), and no asyncio event loop is running here (trio?).",
        "Fix: run it under asyncio (with anyio: anyio_backend='asyncio'), or call "
        "ResilientClient from a worker thread (anyio.to_thread.run_sync).",
    ]
