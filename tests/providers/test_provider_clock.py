"""The anthropic and google-genai SDKs' own retry sleeps land on the virtual clock.

anthropic retries like openai (Stainless: 0.5 s doubling, jitter, ``retry-after``);
google-genai retries with tenacity when ``HttpRetryOptions`` ask it to (1 s doubling
plus up to 1 s of jitter). Under ``llm_clock`` neither really waits, both waits are
recorded, and the jitter comes from the clock's seed, so the waits are exact.
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import anthropic._base_client
import pytest
import tenacity
from google import genai
from google.genai import _api_client, types
from wire_server import WireServer

from pytest_llm import VirtualClock, use_cassette

OVERLOADED = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
UNAVAILABLE = {
    "error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}
}
HELLO = [{"role": "user", "content": "Say hello"}]


@pytest.fixture
def server() -> Iterator[WireServer]:
    with WireServer() as srv:
        yield srv


def claude(server: WireServer) -> dict[str, Any]:
    return {"api_key": "test-key", "base_url": server.base_url}


def gemini(server: WireServer, **retry: Any) -> genai.Client:
    made = genai.Client(
        api_key="test-key",
        http_options=types.HttpOptions(
            base_url=server.base_url, retry_options=types.HttpRetryOptions(**retry)
        ),
    )
    server.keep.append(made)
    return made


def jitter(seed: int, n: int) -> list[float]:
    """The first ``n`` draws of a clock seeded with ``seed``."""
    rng = random.Random(seed)
    return [rng.random() for _ in range(n)]


def test_anthropic_retry_sleeps_are_virtual_and_honour_retry_after(
    server: WireServer, llm_clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.fail(529, OVERLOADED)
    server.fail(529, OVERLOADED, [("retry-after", "3")])
    real_sleeps: list[float] = []
    monkeypatch.setattr(time, "sleep", real_sleeps.append)  # a real sleep would land here
    message = anthropic.Anthropic(**claude(server)).messages.create(
        model="claude-haiku-4-5", max_tokens=16, messages=HELLO
    )
    assert message.content[0].type == "text"
    (r0,) = jitter(llm_clock.seed, 1)
    assert llm_clock.sleeps == [0.5 * (1 - 0.25 * r0), 3.0]
    assert real_sleeps == []  # the 3 s were virtual (no wall-time bound: shared machines)
    assert len(server.requests) == 3


def test_anthropic_async_retry_sleeps_are_virtual(server: WireServer) -> None:
    server.fail(529, OVERLOADED)
    server.fail(529, OVERLOADED)

    async def call() -> None:
        client = anthropic.AsyncAnthropic(**claude(server))
        await client.messages.create(model="claude-haiku-4-5", max_tokens=16, messages=HELLO)

    with VirtualClock(seed=7) as clock:
        asyncio.run(call())
    r0, r1 = jitter(7, 2)
    assert clock.sleeps == [0.5 * (1 - 0.25 * r0), 1.0 * (1 - 0.25 * r1)]


def test_gemini_retry_sleeps_are_virtual_with_seeded_jitter(server: WireServer) -> None:
    client = gemini(server, attempts=3)  # built before the clock: its retryer too
    for seed in (3, 3, 4):
        server.fail(503, UNAVAILABLE)
        server.fail(503, UNAVAILABLE)
        with VirtualClock(seed=seed) as clock:
            reply = client.models.generate_content(model="gemini-2.0-flash", contents="Hi")
        assert reply.text == "Echo: Hi"
        r0, r1 = jitter(seed, 2)
        assert clock.sleeps == [1 + r0, 2 + r1]  # wait_exponential_jitter: 1, 2, + U(0, 1)


def test_gemini_async_and_per_request_retry_options(server: WireServer) -> None:
    async def call() -> None:
        server.fail(503, UNAVAILABLE)
        aio = gemini(server, attempts=2).aio  # built under the clock
        await aio.models.generate_content(model="gemini-2.0-flash", contents="Hi")
        per_request = types.GenerateContentConfig(
            http_options=types.HttpOptions(
                retry_options=types.HttpRetryOptions(attempts=2, initial_delay=5, jitter=0)
            )
        )
        server.fail(503, UNAVAILABLE)
        await aio.models.generate_content(
            model="gemini-2.0-flash", contents="Hi", config=per_request
        )

    with VirtualClock(seed=1) as clock:
        asyncio.run(call())
    (r0,) = jitter(1, 1)
    assert clock.sleeps == [1 + r0, 5.0]
    assert len(server.requests) == 4


def test_gemini_retryers_are_real_again_after_the_clock(server: WireServer) -> None:
    with VirtualClock() as clock:
        client = gemini(server, attempts=2, initial_delay=0.01, jitter=0)
        assert isinstance(_api_client.tenacity, object)
        assert _api_client.tenacity is not tenacity
        assert "_retry" in _api_client.BaseApiClient.__dict__
    assert _api_client.tenacity is tenacity
    assert "_retry" not in _api_client.BaseApiClient.__dict__
    server.fail(503, UNAVAILABLE)
    client.models.generate_content(model="gemini-2.0-flash", contents="Hi")
    assert clock.sleeps == []  # the retryer built under the clock sleeps for real now
    assert len(server.requests) == 2


def test_an_sdk_imported_after_the_clock_is_captured_at_its_first_request(
    tmp_path: Path, server: WireServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    sdk = sys.modules["anthropic"]
    monkeypatch.delitem(sys.modules, "anthropic")  # as if not imported yet
    real_time = anthropic._base_client.time
    with VirtualClock() as clock:
        assert anthropic._base_client.time is real_time  # nothing to capture yet
        monkeypatch.setitem(sys.modules, "anthropic", sdk)  # the app imports it now
        server.fail(529, OVERLOADED, [("retry-after", "2")])
        with use_cassette(tmp_path / "late.yaml", record="once"):
            anthropic.Anthropic(**claude(server)).messages.create(
                model="claude-haiku-4-5", max_tokens=16, messages=HELLO
            )
        assert anthropic._base_client.time is not real_time
    assert anthropic._base_client.time is real_time
    assert clock.sleeps == [2.0]
