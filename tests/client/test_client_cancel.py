"""Cancelling the async caller (CONTRACTS 23, with 37 and 57 where they show).

The caller's task is cancelled at a moment of virtual time, while the client is waiting
for an answer, waiting to retry, opening a stream, reading one, or racing a hedge: the
request is aborted, no further attempt starts (on the route or a fallback), the
response is closed, the breaker counts nothing, and the client serves the next call.
Requests are counted where the provider sees them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from client_helpers import MESSAGES, route, seen

from pytest_llm import VirtualClock
from pytest_llm.client import (
    AsyncResilientClient,
    CircuitBreaker,
    Hedge,
    Timeouts,
    call_info,
)
from pytest_llm.faults import FaultPlan, RateLimited, Slow, Stall

A = route("a")
B = route("b")


def client_for(clock: VirtualClock, *routes: Any, **options: Any) -> AsyncResilientClient:
    options.setdefault("breaker", CircuitBreaker(failure_threshold=1, clock=clock))
    options.setdefault("max_retries", 2)
    return AsyncResilientClient(list(routes or (A, B)), clock=clock, **options)


def cancel_at(
    clock: VirtualClock, seconds: float, work: Callable[[], Awaitable[Any]]
) -> BaseException:
    """Run ``work`` as a task, cancel it ``seconds`` into virtual time; what it raised."""

    async def main() -> BaseException:
        task = asyncio.ensure_future(work())
        await clock.asleep(seconds)
        assert not task.done(), "the call ended before it could be cancelled"
        task.cancel()
        try:
            await task
        except BaseException as exc:
            return exc
        raise AssertionError("the cancelled call returned")

    return asyncio.run(main())


def healthy(client: AsyncResilientClient, llm_fake: Any) -> Any:
    """The next call goes through, to a, at once."""
    llm_fake.add("Paris", model="a")
    reply = asyncio.run(client.chat.completions.create(messages=MESSAGES))
    assert reply.model == "a"
    return reply


def test_cancelling_a_slow_request_aborts_it_and_starts_nothing_else(
    llm_fake: Any, llm_faults: FaultPlan, llm_clock: VirtualClock
) -> None:
    llm_fake.add("late")
    llm_faults.add(Slow(seconds=30), model="a")
    client = client_for(llm_clock)

    error = cancel_at(llm_clock, 5, lambda: client.chat.completions.create(messages=MESSAGES))

    assert isinstance(error, asyncio.CancelledError)
    assert llm_clock.monotonic() == 5.0  # the 30 s reply was not waited for
    assert [seen(llm_faults, m) for m in "ab"] == [1, 0]  # no retry, no fallback
    info = call_info(error)
    assert [(a.route, a.kind, a.reason) for a in info.attempts] == [
        ("a@llm.test", "cancelled", "cancelled by the caller")
    ]
    assert info.attempts[0].ended == 5.0
    # a cancelled call is neither a success nor a failure (37): threshold 1, still closed
    assert client.breaker.state(A.key) == "closed"
    healthy(client, llm_fake)
    assert seen(llm_faults, "a") == 2


def test_cancelling_during_a_retry_wait_starts_no_further_attempt(
    llm_fake: Any, llm_faults: FaultPlan, llm_clock: VirtualClock
) -> None:
    llm_faults.add(RateLimited(retry_after=20), model="a")
    client = client_for(llm_clock)

    error = cancel_at(llm_clock, 5, lambda: client.chat.completions.create(messages=MESSAGES))

    assert isinstance(error, asyncio.CancelledError)
    assert llm_clock.monotonic() == 5.0  # the 20 s wait was cut short
    assert llm_clock.sleeps == [5.0, 20.0]  # the test's 5 s, then the retry wait that began
    assert [seen(llm_faults, m) for m in "ab"] == [1, 0]
    info = call_info(error)
    assert [(a.status, a.wait) for a in info.attempts] == [(429, 20.0)]
    healthy(client, llm_fake)


def test_cancelling_before_the_first_token_closes_the_stream(
    llm_fake: Any, llm_faults: FaultPlan, llm_clock: VirtualClock
) -> None:
    llm_fake.add("Hello", chunks=["Hel", "lo"])
    llm_faults.add(Stall(after_chunk=1, seconds=30), model="a")  # role chunk, then silence
    client = client_for(llm_clock, timeouts=Timeouts(first_token=20))
    responses: list[Any] = []

    async def work() -> Any:
        sdk = client._sdk(A)
        original = sdk.chat.completions.create

        async def spy(**kwargs: Any) -> Any:
            stream = await original(**kwargs)
            responses.append(stream.response)
            return stream

        sdk.chat.completions.create = spy
        return await client.chat.completions.create(messages=MESSAGES, stream=True)

    error = cancel_at(llm_clock, 5, work)

    assert isinstance(error, asyncio.CancelledError)
    assert llm_clock.monotonic() == 5.0  # neither the stall nor first_token=20 ran out
    assert [seen(llm_faults, m) for m in "ab"] == [1, 0]
    (response,) = responses
    assert response.is_closed  # no connection left open
    assert client.breaker.state(A.key) == "closed"


def test_cancelling_the_reader_of_a_stream_closes_it_and_keeps_the_partial_usage(
    llm_fake: Any, llm_faults: FaultPlan, llm_clock: VirtualClock
) -> None:
    llm_fake.add("Hello", chunks=["Hel", "lo"])
    llm_faults.add(Stall(after_chunk=2, seconds=30), model="a")  # role, "Hel", silence
    client = client_for(llm_clock)
    got: list[Any] = []
    streams: list[Any] = []

    async def work() -> None:
        stream = await client.chat.completions.create(messages=MESSAGES, stream=True)
        streams.append(stream)
        async for chunk in stream:
            got.append(chunk)

    error = cancel_at(llm_clock, 5, work)

    assert isinstance(error, asyncio.CancelledError)
    assert [c.choices[0].delta.content for c in got] == ["", "Hel"]
    (stream,) = streams
    assert stream.response.is_closed
    info = call_info(stream)
    assert info.usage is not None
    assert info.usage["estimated"] == 1
    assert info.usage["output_tokens"] == 1  # "Hel": billed, though the answer was cut
    assert info.ended == 5.0
    assert [seen(llm_faults, m) for m in "ab"] == [1, 0]  # never restarted


def test_cancelling_a_hedged_call_cancels_both_requests(
    llm_fake: Any, llm_faults: FaultPlan, llm_clock: VirtualClock
) -> None:
    llm_fake.add("late", times=2)
    llm_faults.add(Slow(seconds=30), model="a")
    llm_faults.add(Slow(seconds=30), model="b")
    client = client_for(llm_clock, A, B, route("c"), hedge=Hedge(delay=2))

    error = cancel_at(llm_clock, 5, lambda: client.chat.completions.create(messages=MESSAGES))

    assert isinstance(error, asyncio.CancelledError)
    assert llm_clock.monotonic() == 5.0
    assert [seen(llm_faults, m) for m in "abc"] == [1, 1, 0]
    info = call_info(error)
    assert [(a.route, a.hedge) for a in info.attempts] == [
        ("a@llm.test", False),
        ("b@llm.test", True),
    ]
    assert {a.kind for a in info.attempts} == {"cancelled"}
    assert client.breaker.state(A.key) == "closed"
    assert client.breaker.state(B.key) == "closed"
    healthy(client, llm_fake)


@pytest.mark.parametrize("at", [0.5, 1.5])
def test_cancelling_with_a_deadline_pending_raises_the_cancel_not_a_timeout(
    llm_fake: Any, llm_faults: FaultPlan, llm_clock: VirtualClock, at: float
) -> None:
    llm_fake.add("late")
    llm_faults.add(Slow(seconds=30), model="a")
    client = client_for(llm_clock, deadline=2)

    error = cancel_at(llm_clock, at, lambda: client.chat.completions.create(messages=MESSAGES))

    assert isinstance(error, asyncio.CancelledError)
    assert llm_clock.monotonic() == at
    assert [seen(llm_faults, m) for m in "ab"] == [1, 0]
