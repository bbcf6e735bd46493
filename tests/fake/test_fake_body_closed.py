"""The fake's request log sees whether the client closed each response body, and when
(contracts 23 and 29 read it there, at the provider, never in the client's own log)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from pytest_llm import faults as F

LONG = "one two three four five six seven eight"


@pytest.fixture
def no_gc() -> Iterator[None]:
    """An unclosed stream is only found by the cycle collector: keep it out of the test."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _client() -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-test", base_url="http://llm.test/v1", max_retries=0)


def _stream(client: openai.OpenAI) -> Any:
    return client.chat.completions.create(
        model="m1", messages=[{"role": "user", "content": "hi"}], stream=True
    )


def test_a_plain_reply_is_served_whole(llm_fake: Any) -> None:
    _client().chat.completions.create(model="m1", messages=[{"role": "user", "content": "hi"}])
    entry = llm_fake.requests.last
    assert entry.served_at is not None
    assert (entry.closed_at, entry.closed_early, entry.left_open) == (entry.served_at, False, False)


def test_a_stream_read_to_its_end_is_closed_not_early(llm_fake: Any) -> None:
    text = "".join(c.choices[0].delta.content or "" for c in _stream(_client()) if c.choices)
    entry = llm_fake.requests.last
    assert text
    assert (entry.closed_early, entry.left_open) == (False, False)


def test_a_break_inside_with_closes_the_body_early(llm_fake: Any, llm_clock: Any) -> None:
    llm_fake.add(LONG)
    llm_clock.advance(5)
    with _stream(_client()) as stream:
        for _chunk in stream:
            break
    entry = llm_fake.requests.last
    assert (entry.closed_early, entry.closed_at, entry.left_open) == (True, 5.0, False)


def test_a_break_on_the_bare_stream_leaves_the_body_open(llm_fake: Any, no_gc: None) -> None:
    llm_fake.add(LONG)
    stream = _stream(_client())
    for _chunk in stream:  # no `with`, no close(): the response waits for the collector
        break
    entry = llm_fake.requests.last
    assert (entry.closed_at, entry.closed_early, entry.left_open) == (None, None, True)
    stream.close()
    assert (entry.closed_early, entry.left_open) == (True, False)


def test_a_request_cancelled_before_the_headers_has_no_body(
    llm_fake: Any, llm_faults: Any, llm_clock: Any
) -> None:
    llm_faults.add(F.Slow(seconds=30), times=1)
    client = openai.AsyncOpenAI(api_key="sk-test", base_url="http://llm.test/v1", max_retries=0)

    async def main() -> None:
        task = asyncio.ensure_future(
            client.chat.completions.create(model="m1", messages=[{"role": "user", "content": "hi"}])
        )
        for _ in range(1000):
            await asyncio.sleep(0)
            if len(llm_fake.requests):
                break
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    entry = llm_fake.requests.last
    assert (entry.served_at, entry.closed_at, entry.left_open) == (None, None, False)
