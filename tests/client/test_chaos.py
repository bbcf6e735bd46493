"""Chaos: 1,000 calls over three routes with seeded random faults, through the real SDK.

Every call either returns a complete, valid result or raises a typed error; no call
runs past its deadline on the virtual clock; no stream ever hands the caller duplicated
content. Plain calls, streams and structured calls each get the faults that fit them.
"""

from __future__ import annotations

import asyncio
import collections
import re
from typing import Any

import openai
import pytest
from pydantic import BaseModel

from pytest_llm import faults
from pytest_llm.client import (
    AsyncResilientClient,
    LLMClientError,
    ResilientClient,
    RetryPolicy,
    Route,
    StreamError,
    Timeouts,
    call_info,
)

BASE = "http://llm.test/v1"
KEY = "sk-test-" + "c" * 40
TEXT = "alpha beta gamma delta epsilon zeta eta theta"
JSON = '{"label": "bug", "priority": 2, "tags": ["ui"], "urgent": true}'
DEADLINE = 60.0
EPSILON = 1e-6


class Ticket(BaseModel):
    label: str
    priority: int
    tags: list[str]
    urgent: bool


EXPECTED = Ticket(label="bug", priority=2, tags=["ui"], urgent=True)
MESSAGES = [{"role": "user", "content": "Triage: the export button crashes"}]


def routes(prefix: str) -> list[Route]:
    return [Route(f"{prefix}{name}", base_url=BASE, api_key=KEY) for name in "abc"]


def script(llm_fake: Any, llm_faults: Any) -> None:
    llm_fake.add(TEXT, model=None, times=None, match=lambda r: not r.model.startswith("p"))
    llm_fake.add(JSON, times=None, match=lambda r: r.model.startswith("p"))
    plain = re.compile(r"^(x|p)[abc]$")
    llm_faults.random(
        faults.RateLimited(retry_after=1),
        faults.RateLimited(retry_after=3, http_date=True),
        faults.ServerError(500),
        faults.ServerError(503),
        faults.Overloaded(),
        faults.ConnectionReset(),
        faults.ReadTimeout(),
        faults.Slow(seconds=3),
        probability=0.3,
        model=plain,
    )
    llm_faults.random(
        faults.ServerError(502),
        faults.RateLimited(retry_after=2),
        faults.Stall(after_chunk=2, seconds=40),
        faults.TruncatedStream(after_chunk=3),
        faults.ConnectionReset(after_chunks=2),
        faults.StreamError(after_chunk=3),
        probability=0.3,
        model=re.compile(r"^s[abc]$"),
    )
    llm_faults.random(
        faults.MalformedJSON("fenced"),
        faults.MalformedJSON("truncated"),
        faults.MalformedJSON("missing_field"),
        faults.MalformedJSON("prose"),
        probability=0.5,
        model=re.compile(r"^p[abc]$"),
    )


def options(llm_clock: Any, prefix: str) -> dict[str, Any]:
    return {
        "clock": llm_clock,
        "seed": 7,
        "deadline": DEADLINE,
        "retry": RetryPolicy(max_retries=2),
        "timeouts": Timeouts(connect=5, read=10, first_token=15, chunk=10),
        "routes": routes(prefix),
    }


def check_error(error: BaseException, outcomes: collections.Counter[str]) -> None:
    assert isinstance(error, LLMClientError | openai.APIError), repr(error)
    info = call_info(error)
    assert info.elapsed <= DEADLINE + EPSILON, info.summary()
    if isinstance(error, StreamError):
        # whatever reached the caller is a prefix of the one true answer: never duplicated
        assert TEXT.startswith(error.partial_text), error.partial_text
    outcomes[type(error).__name__] += 1


def test_chaos_sync_1000_calls(llm_fake: Any, llm_faults: Any, llm_clock: Any) -> None:
    script(llm_fake, llm_faults)
    llm_faults.seed = 1234
    plain = ResilientClient(**options(llm_clock, "x"))
    streamed = ResilientClient(**options(llm_clock, "s"))
    structured = ResilientClient(**options(llm_clock, "p"))
    outcomes: collections.Counter[str] = collections.Counter()
    for n in range(1000):
        kind = ("plain", "stream", "parse")[n % 3]
        try:
            if kind == "plain":
                reply = plain.chat.completions.create(messages=MESSAGES)
                assert reply.choices[0].message.content == TEXT
                info = call_info(reply)
            elif kind == "stream":
                stream = streamed.chat.completions.create(messages=MESSAGES, stream=True)
                text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
                assert text == TEXT  # complete, and nothing duplicated
                info = call_info(stream)
            else:
                parsed = structured.chat.completions.parse(
                    messages=MESSAGES, response_format=Ticket
                )
                assert parsed.choices[0].message.parsed == EXPECTED
                info = call_info(parsed)
            assert info.elapsed <= DEADLINE + EPSILON, info.summary()
            outcomes[f"ok:{kind}"] += 1
        except (LLMClientError, openai.APIError) as error:
            check_error(error, outcomes)
    print(dict(outcomes))
    # the run met every kind of trouble and still served most calls
    assert sum(v for k, v in outcomes.items() if k.startswith("ok:")) >= 800, outcomes
    assert {"ok:plain", "ok:stream", "ok:parse"} <= set(outcomes), outcomes
    assert len(llm_faults.log) > 1000
    assert sum(1 for a in llm_faults.log if a.fault is not None) > 200


def test_chaos_async_300_concurrent_calls(llm_fake: Any, llm_faults: Any, llm_clock: Any) -> None:
    script(llm_fake, llm_faults)
    llm_faults.seed = 99
    plain = AsyncResilientClient(**options(llm_clock, "x"))
    streamed = AsyncResilientClient(**options(llm_clock, "s"))
    structured = AsyncResilientClient(**options(llm_clock, "p"))
    outcomes: collections.Counter[str] = collections.Counter()

    async def one(n: int) -> None:
        kind = ("plain", "stream", "parse")[n % 3]
        try:
            if kind == "plain":
                reply = await plain.chat.completions.create(messages=MESSAGES)
                assert reply.choices[0].message.content == TEXT
                info = call_info(reply)
            elif kind == "stream":
                stream = await streamed.chat.completions.create(messages=MESSAGES, stream=True)
                parts = [c.choices[0].delta.content or "" async for c in stream if c.choices]
                assert "".join(parts) == TEXT
                info = call_info(stream)
            else:
                parsed = await structured.chat.completions.parse(
                    messages=MESSAGES, response_format=Ticket
                )
                assert parsed.choices[0].message.parsed == EXPECTED
                info = call_info(parsed)
            assert info.elapsed <= DEADLINE + EPSILON, info.summary()
            outcomes[f"ok:{kind}"] += 1
        except (LLMClientError, openai.APIError) as error:
            check_error(error, outcomes)

    async def main() -> None:
        for start in range(0, 300, 30):  # 30 calls in flight at a time
            await asyncio.gather(*(one(n) for n in range(start, start + 30)))

    asyncio.run(main())
    assert sum(outcomes.values()) == 300
    assert sum(v for k, v in outcomes.items() if k.startswith("ok:")) >= 200, outcomes


@pytest.fixture(autouse=True)
def _no_unused_check(llm_faults: Any) -> None:
    """Random rules are exempt from the end check anyway; nothing else is scripted."""
