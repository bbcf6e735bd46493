"""Deadlines, connect and read timeouts, and cancellation, end to end through the real
openai SDK on the virtual clock (CONTRACTS C 17-20, 23), sync and async.

Time is never measured for real: every bound below is on ``llm_clock``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, ClassVar

import openai
import pytest
from client_helpers import MESSAGES, key_for, reached, route, seen

from pytest_llm import faults
from pytest_llm._exchange import Exchange, Next, Outcome, TransportFailure
from pytest_llm.client import (
    AsyncResilientClient,
    Backoff,
    CircuitBreaker,
    DeadlineExceeded,
    RetryPolicy,
    Route,
    Timeouts,
    call_info,
)
from pytest_llm.faults._base import Context


@dataclass(frozen=True, repr=False)
class ConnectTimeout(faults.Fault):
    """The TCP connect times out: nothing was sent (the harness has no such kind)."""

    kind: ClassVar[str] = ""

    def apply(self, exchange: Exchange, nxt: Next, ctx: Context) -> Outcome:
        return TransportFailure("connect_timeout", "timed out")


def sync_sleeps(mode: Any) -> list[float] | None:
    """Every wait on the clock, for the sync client; ``None`` for the async one, whose
    deadline timers are clock sleeps too (begun, then cancelled: recorded, no time)."""
    return None if mode.is_async else list(mode.clock.sleeps)


def chat(mode: Any, client: Any, **kw: Any) -> Any:
    return mode.call(client.chat.completions.create, **kw)


def chat_error(mode: Any, client: Any, error: Any, **kw: Any) -> Any:
    return mode.raises(error, client.chat.completions.create, **kw)


# -- 17. The deadline bounds the whole call -------------------------------------------------


def test_deadline_bounds_retries_and_waits(mode, llm_faults, llm_clock):
    """17: a persistent 503 with generous retries stops within the deadline, typed."""
    llm_faults.add(faults.ServerError(503), model="a", times=None)
    backoff = Backoff(base=1, max_delay=8, jitter="none")
    client = mode.client(route("a"), retry=RetryPolicy(max_retries=10, backoff=backoff), deadline=5)
    err = chat_error(mode, client, DeadlineExceeded)
    assert isinstance(err, TimeoutError)
    assert isinstance(err.__cause__, openai.InternalServerError)
    assert llm_clock.monotonic() == 3.0  # the 4 s wait would end at 7 > 5: not taken (18)
    assert call_info(err).waits == [1.0, 2.0]
    assert sync_sleeps(mode) in (None, [1.0, 2.0])
    assert seen(llm_faults, "a") == 3
    assert call_info(err).requests == 3


def test_deadline_cuts_a_slow_attempt(mode, llm_faults, llm_fake, llm_clock):
    """17: each attempt's read timeout is cut to what is left of the deadline (the SDK
    alone would give every try a fresh 60 s)."""
    llm_faults.add(faults.Slow(seconds=30), model="a", times=None)
    client = mode.client(route("a"), deadline=10, timeouts=Timeouts(read=60))
    err = chat_error(mode, client, DeadlineExceeded)
    assert llm_clock.monotonic() == pytest.approx(10.0)
    assert seen(llm_faults, "a") == 1
    assert call_info(err).elapsed == pytest.approx(10.0)


def test_deadline_counts_fallbacks(mode, llm_faults, llm_fake, llm_clock):
    """17: a timeout on the first route and a slow second route share one deadline."""
    llm_faults.add(faults.ReadTimeout(), model="a", times=None)
    llm_faults.add(faults.Slow(seconds=30), model="b", times=None)
    client = mode.client(route("a"), route("b"), deadline=10, timeouts=Timeouts(read=6))
    err = chat_error(mode, client, DeadlineExceeded)
    assert llm_clock.monotonic() == pytest.approx(10.0)
    assert (seen(llm_faults, "a"), seen(llm_faults, "b")) == (1, 1)
    assert [a.model for a in call_info(err).attempts] == ["a", "b"]


def test_deadline_bounds_repeated_read_timeouts(mode, llm_faults, llm_clock):
    """17: read-timeout retries allowed, but all of them fit in the deadline."""
    llm_faults.add(faults.ReadTimeout(), model="a", times=None)
    policy = RetryPolicy(max_retries=5, timeout_retries=5, backoff=Backoff(jitter="none"))
    client = mode.client(route("a"), retry=policy, deadline=10, timeouts=Timeouts(read=4))
    err = chat_error(mode, client, DeadlineExceeded)
    # 4 s, wait 0.5, 4 s, wait 1, then 0.5 s left: the third try is cut to it
    assert llm_clock.monotonic() == pytest.approx(10.0)
    assert call_info(err).waits == [0.5, 1.0]
    assert sync_sleeps(mode) in (None, [4.0, 0.5, 4.0, 1.0, pytest.approx(0.5)])
    assert seen(llm_faults, "a") == 3


def test_success_inside_the_deadline_is_untouched(mode, llm_faults, llm_fake, llm_clock):
    """17: the deadline does not cut a call that fits (Retry-After 3, deadline 10)."""
    llm_fake.add("Paris.")
    llm_faults.add(faults.RateLimited(retry_after=3), model="a", times=1)
    client = mode.client(route("a"), deadline=10)
    reply = chat(mode, client)
    assert reply.choices[0].message.content == "Paris."
    assert call_info(reply).waits == [3.0]
    assert llm_clock.monotonic() == 3.0
    assert sync_sleeps(mode) in (None, [3.0])


# -- 18. A wait that would end past the deadline is not taken -------------------------------


def test_retry_after_past_the_deadline_fails_at_once(mode, llm_faults, llm_clock):
    """18: Retry-After 7 with 5 s of deadline: no wait, DeadlineExceeded chaining the 429."""
    llm_faults.add(faults.RateLimited(retry_after=7), model="a", times=None)
    client = mode.client(route("a"), deadline=5)
    err = chat_error(mode, client, DeadlineExceeded)
    assert isinstance(err.__cause__, openai.RateLimitError)
    assert call_info(err).waits == []
    assert sync_sleeps(mode) in (None, [])
    assert llm_clock.monotonic() == 0.0
    assert seen(llm_faults, "a") == 1
    assert "would not end before the deadline" in (call_info(err).attempts[0].reason or "")


# -- 19. Connect failures are retryable -----------------------------------------------------


def test_connect_timeout_is_retried_even_with_no_timeout_retries(mode, llm_faults, llm_fake):
    """19: nothing was sent, so a connect timeout is retried like any transient failure
    (timeout_retries=0 only limits read timeouts)."""
    llm_fake.add("Paris.")
    llm_faults.add(ConnectTimeout(), model="a", times=2)
    client = mode.client(route("a"), retry=RetryPolicy(max_retries=2, timeout_retries=0))
    reply = chat(mode, client)
    assert reply.choices[0].message.content == "Paris."
    assert seen(llm_faults, "a") == 3
    assert [a.kind for a in call_info(reply).attempts] == ["connect_timeout"] * 2 + [None]


def test_connect_error_is_retried(mode, llm_faults, llm_fake):
    """19: connection refused: retried on the same route."""
    llm_fake.add("Paris.")
    llm_faults.add(faults.ConnectError(), model="a", times=1)
    client = mode.client(route("a"))
    reply = chat(mode, client)
    assert seen(llm_faults, "a") == 2
    assert call_info(reply).attempts[0].kind == "connect"


@pytest.mark.parametrize(
    "fault", [faults.ConnectError(), faults.ConnectionReset()], ids=["refused", "reset"]
)
def test_refused_and_reset_on_a_real_socket_are_retried(
    mode, llm_faults, llm_fake, llm_server, fault
):
    """19 + 2: over a real TCP socket (closed without a response; RST before headers):
    one retry, each request seen by the server once."""
    llm_fake.add("Paris.")
    llm_faults.add(fault, model="a", times=1)
    client = mode.client(route("a", base_url=llm_server.base_url))
    reply = chat(mode, client)
    assert reply.choices[0].message.content == "Paris."
    assert len(llm_server.exchanges) == 2
    attempts = call_info(reply).attempts
    assert [(a.error, a.kind) for a in attempts] == [
        ("APIConnectionError", "connection"),
        (None, None),
    ]


# -- 20. Read timeouts ----------------------------------------------------------------------


def test_read_timeout_is_not_retried_by_default_and_fails_over(
    mode, llm_faults, llm_fake, llm_clock
):
    """20: no bytes before the read timeout: timeout_retries=0 means no second try on the
    route (the request may have been processed); the next route serves."""
    llm_fake.add("from b", model="b")
    llm_faults.add(faults.ReadTimeout(), model="a", times=None)
    client = mode.client(route("a"), route("b"), timeouts=Timeouts(read=4), max_retries=3)
    reply = chat(mode, client)
    assert reply.choices[0].message.content == "from b"
    assert (seen(llm_faults, "a"), seen(llm_faults, "b")) == (1, 1)
    assert llm_clock.sleeps == [4.0]
    assert call_info(reply).attempts[0].kind == "read_timeout"


def test_read_timeout_retries_are_bounded_by_timeout_retries(mode, llm_faults, llm_clock):
    """20: timeout_retries=1: exactly two tries on the route, then the SDK's timeout error."""
    llm_faults.add(faults.ReadTimeout(), model="a", times=None)
    policy = RetryPolicy(max_retries=5, timeout_retries=1, backoff=Backoff(jitter="none"))
    client = mode.client(route("a"), retry=policy, timeouts=Timeouts(read=4))
    err = chat_error(mode, client, openai.APITimeoutError)
    assert seen(llm_faults, "a") == 2
    assert llm_clock.sleeps == [4.0, 0.5, 4.0]
    assert "timeout_retries=1" in (call_info(err).attempts[-1].reason or "")


def test_sdk_style_timeout_kwarg_is_the_read_timeout(mode, llm_faults, llm_clock):
    """20: create(timeout=3) is the read timeout of that call, as in the SDK."""
    llm_faults.add(faults.ReadTimeout(), model="a", times=None)
    client = mode.client(route("a"))
    chat_error(mode, client, openai.APITimeoutError, timeout=3)
    assert llm_clock.sleeps == [3.0]
    assert seen(llm_faults, "a") == 1


# -- 23. Cancelling the caller --------------------------------------------------------------


def _others() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and not t.done()]


def test_cancel_during_a_request_starts_nothing_more(llm_faults, llm_fake, llm_clock):
    """23: cancelling aborts the request in flight, starts no further attempt, leaves no
    task behind, and the breaker counts it neither as a failure nor as a success."""
    llm_faults.add(faults.Slow(seconds=30), model="a", times=None)
    breaker = CircuitBreaker(failure_threshold=1, clock=llm_clock)
    client = AsyncResilientClient(
        [Route("a", base_url="http://llm.test/v1", api_key=key_for("a"))],
        clock=llm_clock,
        breaker=breaker,
        max_retries=3,
    )

    async def go() -> BaseException:
        task = asyncio.ensure_future(client.chat.completions.create(messages=MESSAGES))
        await llm_clock.asleep(1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError) as caught:
            await task
        await asyncio.sleep(0)
        assert _others() == []
        await llm_clock.asleep(100)  # nothing is waiting to retry
        return caught.value

    err = asyncio.run(go())
    assert seen(llm_faults, "a") == 1
    assert breaker.state(Route("a", base_url="http://llm.test/v1").key) == "closed"
    info = call_info(err)
    assert info.requests == 1
    assert info.attempts[0].reason == "cancelled by the caller"


def test_cancel_during_a_backoff_wait_starts_no_retry(llm_faults, llm_clock):
    """23: cancelled while waiting out a Retry-After: no second request, ever."""
    llm_faults.add(faults.RateLimited(retry_after=7), model="a", times=None)
    client = AsyncResilientClient(
        [Route("a", base_url="http://llm.test/v1", api_key=key_for("a"))],
        clock=llm_clock,
        max_retries=3,
    )

    async def go() -> None:
        task = asyncio.ensure_future(client.chat.completions.create(messages=MESSAGES))
        await llm_clock.asleep(1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await llm_clock.asleep(60)
        assert _others() == []

    asyncio.run(go())
    assert seen(llm_faults, "a") == 1


def test_cancel_on_a_real_socket_closes_the_connection(llm_faults, llm_fake, llm_server, llm_clock):
    """23: over a real socket, cancelling closes the connection (the server sees the
    client go away) and the next call works on a fresh one."""
    llm_fake.add("Paris.")
    llm_faults.add(faults.ReadTimeout(), model="a", times=1)
    client = AsyncResilientClient(
        [Route("a", base_url=llm_server.base_url, api_key=key_for("a"))],
        clock=llm_clock,
        timeouts=Timeouts(read=600),
    )

    async def go() -> Any:
        task = asyncio.ensure_future(client.chat.completions.create(messages=MESSAGES))
        while not llm_server.exchanges:  # the request reached the server
            await asyncio.sleep(0.005)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert _others() == []
        return await client.chat.completions.create(messages=MESSAGES)

    reply = asyncio.run(go())
    assert reply.choices[0].message.content == "Paris."
    assert len(llm_server.exchanges) == 2
    assert reached(llm_fake, "a") == 1


def test_a_wait_past_the_deadline_fails_over_when_a_route_is_left(mode, llm_faults, llm_fake):
    """18 + 30: the wait on a is not taken, but b can still answer inside the deadline."""
    llm_fake.add("from b", model="b")
    llm_faults.add(faults.RateLimited(retry_after=30), model="a", times=None)
    client = mode.client(route("a"), route("b"), deadline=5)
    reply = chat(mode, client)
    assert reply.choices[0].message.content == "from b"
    assert (seen(llm_faults, "a"), seen(llm_faults, "b")) == (1, 1)
    assert call_info(reply).waits == []
    assert mode.clock.monotonic() == 0.0
