"""Closing the client, timers that are not waits, and the sync stream's read timeout."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pytest_llm import faults
from pytest_llm.client import (
    AsyncResilientClient,
    ResilientClient,
    Route,
    StreamIdleTimeout,
    Timeouts,
    call_info,
)

BASE = "http://llm.test/v1"
KEY = "sk-test-" + "l" * 40
MESSAGES = [{"role": "user", "content": "hi"}]


def test_sync_client_closes_its_sdk_clients(llm_fake: Any) -> None:
    llm_fake.add("hello")
    with ResilientClient([Route("m", base_url=BASE, api_key=KEY)]) as client:
        sdk = client._sdk(client._routes[0])
        assert (
            client.chat.completions.create(messages=MESSAGES).choices[0].message.content == "hello"
        )
    assert sdk.is_closed()


def test_async_client_closes_its_sdk_clients(llm_fake: Any) -> None:
    llm_fake.add("hello")

    async def main() -> Any:
        async with AsyncResilientClient([Route("m", base_url=BASE, api_key=KEY)]) as client:
            sdk = client._sdk(client._routes[0])
            await client.chat.completions.create(messages=MESSAGES)
        return sdk

    assert asyncio.run(main()).is_closed()


def test_async_deadline_timers_are_not_waits(
    llm_fake: Any, llm_faults: Any, llm_clock: Any
) -> None:
    """The deadline's timer races each attempt on the clock but is not a wait the app took:
    ``llm_clock.sleeps`` holds the Retry-After wait only, as ``call_info().waits`` does."""
    llm_fake.add("hello")
    llm_faults.add(faults.RateLimited(retry_after=7))
    client = AsyncResilientClient([Route("m", base_url=BASE, api_key=KEY)], deadline=30)
    reply = asyncio.run(client.chat.completions.create(messages=MESSAGES))
    assert call_info(reply).waits == [7.0]
    assert llm_clock.sleeps == [7.0]
    assert llm_clock.monotonic() == 7.0


@pytest.mark.parametrize("first_token", [5, 15])
def test_sync_stream_idle_uses_the_chunk_timer_after_content(
    llm_fake: Any, llm_faults: Any, llm_clock: Any, first_token: float
) -> None:
    """Once content flows, a gap is judged by the chunk timer, whatever the first-token one."""
    llm_fake.add("one two three four", chunks=["one", " two", " three", " four"])
    llm_faults.add(faults.Stall(after_chunk=2, seconds=60))
    client = ResilientClient(
        [Route("m", base_url=BASE, api_key=KEY)],
        timeouts=Timeouts(read=60, first_token=first_token, chunk=20),
        max_retries=0,
    )
    got = []
    with pytest.raises(StreamIdleTimeout) as caught:
        for chunk in client.chat.completions.create(messages=MESSAGES, stream=True):
            got.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
    assert "".join(got) == "one"
    assert caught.value.partial_text == "one"
    assert llm_clock.sleeps == [20.0]
