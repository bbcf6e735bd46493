"""The circuit breaker through the client's call path and the real openai SDK (CONTRACTS
F 34-38), sync and async; counted at the provider, timed on the virtual clock.

(``test_breaker.py`` tests the breaker's state machine alone.)
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import Any, ClassVar

import openai
import pytest
from client_helpers import MESSAGES, key_for, reached, route, seen

from pytest_llm import faults
from pytest_llm._exchange import Exchange, Next, Outcome
from pytest_llm.client import (
    AsyncResilientClient,
    CircuitBreaker,
    CircuitOpenError,
    QuotaExceeded,
    Route,
    StreamError,
    call_info,
)
from pytest_llm.faults._base import Context, error_reply

A = route("a").key


@dataclass(frozen=True, repr=False)
class Outage(faults.Fault):
    """503 (with an optional retry-after) until ``until`` on the clock, then the reply."""

    kind: ClassVar[str] = ""
    until: float = math.inf
    retry_after: float | None = None

    def apply(self, exchange: Exchange, nxt: Next, ctx: Context) -> Outcome:
        if ctx.clock.monotonic() >= self.until:
            return nxt(exchange)
        headers = [] if self.retry_after is None else [("retry-after", f"{self.retry_after:g}")]
        return error_reply(
            ctx,
            503,
            message="The server is overloaded or not ready yet.",
            type="server_error",
            code=None,
            headers=headers,
        )


def chat(mode: Any, client: Any, **kw: Any) -> Any:
    return mode.call(client.chat.completions.create, **kw)


def chat_error(mode: Any, client: Any, error: Any, **kw: Any) -> Any:
    return mode.raises(error, client.chat.completions.create, **kw)


def breaker_for(clock: Any, **kw: Any) -> CircuitBreaker:
    return CircuitBreaker(clock=clock, **kw)


# -- 34. Opens after exactly failure_threshold counted failures -----------------------------


def test_opens_after_exactly_threshold_failures(mode, llm_faults, llm_clock):
    """34: threshold 3: three failing calls reach the provider, the fourth does not."""
    llm_faults.add(faults.ServerError(500), model="a", times=None)
    breaker = breaker_for(llm_clock, failure_threshold=3)
    client = mode.client(route("a"), max_retries=0, breaker=breaker)
    for n in range(3):
        assert breaker.state(A) == "closed", n
        chat_error(mode, client, openai.InternalServerError)
    assert breaker.state(A) == "open"
    err = chat_error(mode, client, CircuitOpenError)
    assert seen(llm_faults, "a") == 3
    assert call_info(err).requests == 0


def test_opening_mid_call_stops_the_retries(mode, llm_faults, llm_clock):
    """34: retries count too: threshold 3 with max_retries=5 sends exactly 3 requests."""
    llm_faults.add(faults.ServerError(503), model="a", times=None)
    breaker = breaker_for(llm_clock, failure_threshold=3)
    client = mode.client(route("a"), max_retries=5, breaker=breaker)
    err = chat_error(mode, client, openai.InternalServerError)
    assert seen(llm_faults, "a") == 3
    attempts = call_info(err).attempts
    assert [x.skipped for x in attempts] == [False, False, False, True]


@pytest.mark.parametrize(
    "excluded",
    [
        faults.HTTPError(status=400),
        faults.HTTPError(status=404),
        faults.InsufficientQuota(),
        faults.ContextLengthExceeded(),
    ],
    ids=["400", "404", "quota", "context-length"],
)
def test_client_errors_neither_count_nor_reset(mode, llm_faults, llm_clock, excluded):
    """34: fail, fail, <client error>, fail opens a threshold-3 breaker: the client error
    did not count (else it would open at the third) nor reset (else still closed)."""
    llm_faults.add(faults.ServerError(500), model="a", times=2)
    llm_faults.add(excluded, model="a", times=1)
    llm_faults.add(faults.ServerError(500), model="a", times=None)
    breaker = breaker_for(llm_clock, failure_threshold=3)
    client = mode.client(route("a"), max_retries=0, breaker=breaker)
    chat_error(mode, client, openai.InternalServerError)
    chat_error(mode, client, openai.InternalServerError)
    chat_error(mode, client, (openai.APIStatusError, QuotaExceeded))  # the excluded one
    assert breaker.state(A) == "closed"
    chat_error(mode, client, openai.InternalServerError)
    assert breaker.state(A) == "open"
    assert seen(llm_faults, "a") == 4


@pytest.mark.parametrize(
    "fault",
    [faults.ReadTimeout(), faults.ConnectError(), faults.ConnectionReset(), faults.Overloaded()],
    ids=["read-timeout", "connect", "reset", "529"],
)
def test_timeouts_and_connection_failures_count(mode, llm_faults, llm_fake, llm_clock, fault):
    """34: timeouts, connection failures and overload count like 5xx."""
    llm_faults.add(fault, model="a", times=None)
    breaker = breaker_for(llm_clock, failure_threshold=2)
    client = mode.client(route("a"), max_retries=0, breaker=breaker, timeout=5)
    for _ in range(2):
        chat_error(mode, client, openai.APIError)
    assert breaker.state(A) == "open"
    chat_error(mode, client, CircuitOpenError)
    assert seen(llm_faults, "a") == 2


def test_a_success_resets_the_count(mode, llm_faults, llm_fake, llm_clock):
    """34: fail, success, fail, fail: a threshold-3 breaker stays closed."""
    llm_fake.add("ok")
    llm_faults.add(faults.ServerError(500), model="a", times=1)
    llm_faults.add(faults.Pass(), model="a", times=1)
    llm_faults.add(faults.ServerError(500), model="a", times=None)
    breaker = breaker_for(llm_clock, failure_threshold=3)
    client = mode.client(route("a"), max_retries=0, breaker=breaker)
    chat_error(mode, client, openai.InternalServerError)
    chat(mode, client)
    chat_error(mode, client, openai.InternalServerError)
    chat_error(mode, client, openai.InternalServerError)
    assert breaker.state(A) == "closed"


# -- 35. Open: no I/O for reset_timeout (or the provider's Retry-After) --------------------


def test_open_for_reset_timeout_then_one_probe_closes_it(mode, llm_faults, llm_fake, llm_clock):
    """35 + 37: open for exactly reset_timeout; then one probe; its success closes."""
    llm_fake.add("ok", times=None)
    llm_faults.add(faults.ServerError(500), model="a", times=1)
    breaker = breaker_for(llm_clock, failure_threshold=1, reset_timeout=30)
    client = mode.client(route("a"), max_retries=0, breaker=breaker)
    chat_error(mode, client, openai.InternalServerError)
    llm_clock.advance(29.9)
    chat_error(mode, client, CircuitOpenError)
    assert seen(llm_faults, "a") == 1
    llm_clock.advance(0.2)
    assert breaker.state(A) == "half_open"
    reply = chat(mode, client)
    assert call_info(reply).attempts[0].breaker == "half_open"
    assert breaker.state(A) == "closed"
    assert seen(llm_faults, "a") == 2


def test_retry_after_keeps_the_circuit_open_longer(mode, llm_faults, llm_fake, llm_clock):
    """35: a 503 with Retry-After 50 keeps a reset_timeout=30 breaker open for 50 s."""
    llm_fake.add("ok")
    llm_faults.add(Outage(retry_after=50), model="a", times=1)
    breaker = breaker_for(llm_clock, failure_threshold=1, reset_timeout=30)
    client = mode.client(route("a"), max_retries=0, breaker=breaker)
    chat_error(mode, client, openai.InternalServerError)
    llm_clock.advance(40)
    chat_error(mode, client, CircuitOpenError)
    assert seen(llm_faults, "a") == 1
    llm_clock.advance(10.1)
    chat(mode, client)
    assert seen(llm_faults, "a") == 2


def test_outage_under_steady_traffic_is_bounded_and_recovery_is_quick(
    mode, llm_faults, llm_fake, llm_clock
):
    """35: an outage of W=100 s on a, a call every second, failing over to b: requests
    reaching a stay within threshold + ceil(W / reset_timeout) * half_open_max_calls;
    after recovery a serves again within reset_timeout plus one probe."""
    threshold, reset, outage = 5, 30.0, 100.0
    llm_fake.add("ok", times=None)
    llm_faults.add(Outage(until=outage), model="a", times=None)
    breaker = breaker_for(llm_clock, failure_threshold=threshold, reset_timeout=reset)
    client = mode.client(route("a"), route("b"), max_retries=0, breaker=breaker)
    back_on_a = None
    for _ in range(200):
        reply = chat(mode, client)
        if back_on_a is None and llm_clock.monotonic() >= outage and call_info(reply).model == "a":
            back_on_a = llm_clock.monotonic()
        llm_clock.advance(1)
    during = seen(llm_faults, "a") - reached(llm_fake, "a")  # the 503s a sent
    assert during <= threshold + math.ceil(outage / reset) * 1
    assert during >= threshold  # it did open by counting, not by luck
    assert back_on_a is not None
    assert back_on_a <= outage + reset + 1


# -- 36. Half-open admits at most half_open_max_calls probes --------------------------------


@pytest.mark.parametrize("max_probes", [1, 2])
def test_half_open_admits_only_max_probes_concurrently(llm_faults, llm_fake, llm_clock, max_probes):
    """36: five concurrent calls on a half-open route: max_probes reach it, the rest go
    to the fallback without I/O on a."""
    llm_fake.add("ok", times=None)
    llm_faults.add(faults.ServerError(500), model="a", times=1)
    llm_faults.add(faults.Slow(seconds=5), model="a", times=None)
    breaker = breaker_for(
        llm_clock, failure_threshold=1, reset_timeout=30, half_open_max_calls=max_probes
    )
    routes = [Route(m, base_url="http://llm.test/v1", api_key=key_for(m)) for m in ("a", "b")]
    client = AsyncResilientClient(routes, clock=llm_clock, max_retries=0, breaker=breaker)

    async def go() -> list[Any]:
        await client.chat.completions.create(messages=MESSAGES)  # opens a, b serves
        llm_clock.advance(31)
        return await asyncio.gather(
            *(client.chat.completions.create(messages=MESSAGES) for _ in range(5))
        )

    replies = asyncio.run(go())
    served = sorted(call_info(r).model for r in replies)
    assert served == sorted(["a"] * max_probes + ["b"] * (5 - max_probes))
    assert seen(llm_faults, "a") == 1 + max_probes
    assert breaker.state(A) == "closed"


# -- 37. Probe verdicts ---------------------------------------------------------------------


def test_failed_probe_reopens_with_a_fresh_timer(mode, llm_faults, llm_clock):
    """37: the probe at t=31 fails: open again until t=61 (not t=30 + anything)."""
    llm_faults.add(faults.ServerError(500), model="a", times=None)
    breaker = breaker_for(llm_clock, failure_threshold=1, reset_timeout=30)
    client = mode.client(route("a"), max_retries=0, breaker=breaker)
    chat_error(mode, client, openai.InternalServerError)
    llm_clock.advance(31)
    chat_error(mode, client, openai.InternalServerError)  # the probe
    assert seen(llm_faults, "a") == 2
    llm_clock.advance(29)  # t=60
    chat_error(mode, client, CircuitOpenError)
    assert seen(llm_faults, "a") == 2
    llm_clock.advance(2)  # t=62
    chat_error(mode, client, openai.InternalServerError)
    assert seen(llm_faults, "a") == 3


def test_success_threshold_probes_close_it(mode, llm_faults, llm_fake, llm_clock):
    """37: success_threshold=2: one good probe leaves it half-open, the second closes."""
    llm_fake.add("ok", times=None)
    llm_faults.add(faults.ServerError(500), model="a", times=1)
    breaker = breaker_for(llm_clock, failure_threshold=1, reset_timeout=30, success_threshold=2)
    client = mode.client(route("a"), max_retries=0, breaker=breaker)
    chat_error(mode, client, openai.InternalServerError)
    llm_clock.advance(31)
    chat(mode, client)
    assert breaker.state(A) == "half_open"
    chat(mode, client)
    assert breaker.state(A) == "closed"


def test_cancelled_probe_frees_its_slot(llm_faults, llm_fake, llm_clock):
    """37: a probe cancelled by its caller gives no verdict and frees the slot: the next
    call probes at once."""
    llm_fake.add("ok", times=None)
    llm_faults.add(faults.ServerError(500), model="a", times=1)
    llm_faults.add(faults.Slow(seconds=20), model="a", times=1)
    breaker = breaker_for(llm_clock, failure_threshold=1, reset_timeout=30)
    client = AsyncResilientClient(
        [Route("a", base_url="http://llm.test/v1", api_key=key_for("a"))],
        clock=llm_clock,
        max_retries=0,
        breaker=breaker,
    )

    async def go() -> Any:
        with pytest.raises(openai.InternalServerError):
            await client.chat.completions.create(messages=MESSAGES)
        llm_clock.advance(31)
        probe = asyncio.ensure_future(client.chat.completions.create(messages=MESSAGES))
        await llm_clock.asleep(1)
        probe.cancel()
        with pytest.raises(asyncio.CancelledError):
            await probe
        assert breaker.state(A) == "half_open"
        return await client.chat.completions.create(messages=MESSAGES)

    reply = asyncio.run(go())
    assert call_info(reply).attempts[0].breaker == "half_open"
    assert breaker.state(A) == "closed"
    assert seen(llm_faults, "a") == 3


def test_cancelled_call_is_not_a_success(llm_faults, llm_fake, llm_clock):
    """37: fail, <cancelled>, fail opens a threshold-2 breaker: the cancelled call did
    not reset the count as a success would. [a client disconnect counted as success]"""
    llm_fake.add("ok", times=None)
    llm_faults.add(faults.ServerError(500), model="a", times=1)
    llm_faults.add(faults.Slow(seconds=20), model="a", times=1)
    llm_faults.add(faults.ServerError(500), model="a", times=1)
    breaker = breaker_for(llm_clock, failure_threshold=2, reset_timeout=30)
    client = AsyncResilientClient(
        [Route("a", base_url="http://llm.test/v1", api_key=key_for("a"))],
        clock=llm_clock,
        max_retries=0,
        breaker=breaker,
    )

    async def go() -> None:
        with pytest.raises(openai.InternalServerError):
            await client.chat.completions.create(messages=MESSAGES)
        task = asyncio.ensure_future(client.chat.completions.create(messages=MESSAGES))
        await llm_clock.asleep(1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert breaker.state(A) == "closed"
        with pytest.raises(openai.InternalServerError):
            await client.chat.completions.create(messages=MESSAGES)

    asyncio.run(go())
    assert breaker.state(A) == "open"
    assert seen(llm_faults, "a") == 3


# -- 38. Async calls and streams count; no serialisation ------------------------------------


@pytest.mark.parametrize(
    "fault",
    [faults.ServerError(503), faults.ConnectionReset(after_chunks=1)],
    ids=["503-before-stream", "reset-before-content"],
)
def test_stream_failures_before_content_count(mode, llm_faults, llm_fake, llm_clock, fault):
    """38: streamed calls that fail before any content count for the breaker."""
    llm_fake.configure(check_unused=False)  # a 503 never reaches it
    llm_fake.add("one two three", times=None)
    llm_faults.add(fault, model="a", times=None)
    breaker = breaker_for(llm_clock, failure_threshold=2)
    client = mode.client(route("a"), max_retries=0, breaker=breaker)
    for _ in range(2):
        # the SDK's own error, as openai.OpenAI() raises it (2.x: httpx's ReadError)
        with pytest.raises(Exception) as caught:
            mode.stream(client.chat.completions.create)
        assert call_info(caught.value).attempts[0].kind in ("server", "connection")
    assert breaker.state(A) == "open"
    with pytest.raises(CircuitOpenError):
        mode.stream(client.chat.completions.create)
    assert seen(llm_faults, "a") == 2


def test_stream_failures_after_content_count(mode, llm_faults, llm_fake, llm_clock):
    """38: a stream reset after content reached the caller (StreamInterrupted) is a
    provider failure too: two of them open a threshold-2 breaker."""
    llm_fake.add("one two three four five", times=None)
    llm_faults.add(faults.ConnectionReset(after_chunks=3), model="a", times=None)
    breaker = breaker_for(llm_clock, failure_threshold=2)
    client = mode.client(route("a"), max_retries=0, breaker=breaker)
    for _ in range(2):
        with pytest.raises(StreamError):
            mode.stream(client.chat.completions.create)
    assert breaker.state(A) == "open"
    assert seen(llm_faults, "a") == 2


def test_concurrent_calls_through_a_closed_breaker_are_not_serialised(
    llm_faults, llm_fake, llm_clock
):
    """38: five concurrent 10 s calls take 10 s of virtual time, not 50."""
    llm_fake.add("ok", times=None)
    llm_faults.add(faults.Slow(seconds=10), model="a", times=None)
    client = AsyncResilientClient(
        [Route("a", base_url="http://llm.test/v1", api_key=key_for("a"))],
        clock=llm_clock,
        breaker=breaker_for(llm_clock, failure_threshold=1),
    )

    async def go() -> list[Any]:
        return await asyncio.gather(
            *(client.chat.completions.create(messages=MESSAGES) for _ in range(5))
        )

    replies = asyncio.run(go())
    assert len(replies) == 5
    assert llm_clock.monotonic() == pytest.approx(10.0)
    assert seen(llm_faults, "a") == 5
