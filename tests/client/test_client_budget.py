"""Budgets through the client and the real openai SDK (CONTRACTS 46, 47, 57): concurrent
calls never overshoot; every attempt that reached the provider counts at the serving
route's price; cache hits and coalesced followers cost 0; failures and cancellations
give back what they held. (Processes sharing Redis: ``test_client_redis.py``.)
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from client_helpers import MESSAGES, Mode, reached, route, seen
from pydantic import BaseModel

from pytest_llm import VirtualClock, faults
from pytest_llm.client import (
    AsyncResilientClient,
    BudgetExceeded,
    Price,
    ResilientClient,
    StreamInterrupted,
    call_info,
)
from pytest_llm.client._budget import Budget
from pytest_llm.client._gate import _split
from pytest_llm.client._limits import RateLimiter

CALL = {"model": "m", "messages": MESSAGES, "max_tokens": 100}
PROMPT, OUTPUT = _split(CALL)
ESTIMATE = PROMPT + OUTPUT
"""What the gate books for one call of ``CALL`` (the fake reports exactly that usage)."""


def exact_usage(llm_fake: Any) -> None:
    llm_fake.add("ok", usage={"prompt_tokens": PROMPT, "completion_tokens": OUTPUT}, times=None)


# -- 46: concurrent checks never overshoot ---------------------------------------------------


def test_200_concurrent_async_calls_against_a_budget_for_50_admit_50(
    llm_fake: Any, llm_faults: Any, llm_clock: VirtualClock
) -> None:
    exact_usage(llm_fake)
    llm_faults.add(faults.Slow(seconds=1), times=None)  # all 200 in flight together
    budget = Budget(hourly=50 * ESTIMATE, clock=llm_clock)
    client = AsyncResilientClient([route("m")], budget=budget, clock=llm_clock)

    async def go() -> list[Any]:
        calls = (client.chat.completions.create(**CALL) for _ in range(200))
        return await asyncio.gather(*calls, return_exceptions=True)

    outs = asyncio.run(go())
    refused = [o for o in outs if isinstance(o, BudgetExceeded)]
    served = [o for o in outs if not isinstance(o, BaseException)]
    assert (len(served), len(refused)) == (50, 150)
    assert reached(llm_fake) == 50
    assert budget.used() == {"hourly": 50.0 * ESTIMATE}
    assert str(refused[0]).startswith(f"budget: the hourly limit of {50 * ESTIMATE:,} tokens")
    assert call_info(refused[0]).requests == 0


def test_200_concurrent_threads_against_a_budget_for_50_admit_50(
    llm_fake: Any, llm_clock: VirtualClock
) -> None:
    exact_usage(llm_fake)
    budget = Budget(hourly=50 * ESTIMATE, clock=llm_clock)
    client = ResilientClient([route("m")], budget=budget, clock=llm_clock)
    outs: list[Any] = []
    lock = threading.Lock()
    barrier = threading.Barrier(200)

    def one() -> None:
        barrier.wait()
        try:
            out: Any = client.chat.completions.create(**CALL)
        except BudgetExceeded as exc:
            out = exc
        with lock:
            outs.append(out)

    threads = [threading.Thread(target=one) for _ in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outs) == 200
    assert sum(not isinstance(o, BudgetExceeded) for o in outs) == 50
    assert reached(llm_fake) == 50
    assert budget.used() == {"hourly": 50.0 * ESTIMATE}


def test_the_budget_resets_with_its_hour_on_virtual_time(
    mode: Mode, llm_fake: Any, llm_clock: VirtualClock
) -> None:
    exact_usage(llm_fake)
    client = mode.client(route("m"), budget=Budget(hourly=ESTIMATE, clock=llm_clock))
    mode.call(client.chat.completions.create, **CALL)
    err = mode.raises(BudgetExceeded, client.chat.completions.create, **CALL)
    assert err.limit == "hourly"
    assert err.resets_at.isoformat() == "2026-01-01T01:00:00+00:00"
    llm_clock.advance(3600)
    mode.call(client.chat.completions.create, **CALL)
    assert reached(llm_fake) == 2


# -- 47: what counts, at which price ----------------------------------------------------------

A = Price(input=1.0, output=2.0)
B = Price(input=10.0, output=20.0)


def usd(**kw: Any) -> Budget:
    return Budget(daily=100.0, unit="usd", **kw)


def test_retries_count_the_attempt_that_was_served(
    mode: Mode, llm_fake: Any, llm_faults: Any, llm_clock: VirtualClock
) -> None:
    llm_faults.add(faults.ServerError(503), times=2)
    budget = usd(clock=llm_clock)
    client = mode.client(route("a", price=A), budget=budget, max_retries=2)
    reply = mode.call(client.chat.completions.create)
    info = call_info(reply)
    assert seen(llm_faults) == 3
    assert info.cost == A.cost(info.usage) > 0
    assert budget.used()["daily"] == pytest.approx(info.cost)  # the 503s held, then gave back


def test_a_fallback_counts_at_the_serving_routes_price(
    mode: Mode, llm_fake: Any, llm_faults: Any, llm_clock: VirtualClock
) -> None:
    llm_faults.add(faults.ServerError(503), model="a", times=None)
    budget = usd(clock=llm_clock)
    client = mode.client(route("a", price=A), route("b", price=B), budget=budget, max_retries=0)
    reply = mode.call(client.chat.completions.create)
    info = call_info(reply)
    assert info.route == "b@llm.test"
    assert info.cost == B.cost(info.usage)
    assert budget.used()["daily"] == pytest.approx(B.cost(info.usage))


class Capital(BaseModel):
    city: str
    country: str


def test_reasks_count_every_request(mode: Mode, llm_fake: Any, llm_clock: VirtualClock) -> None:
    llm_fake.add({"city": "Paris"})
    llm_fake.add({"city": "Paris", "country": "France"})
    budget = usd(clock=llm_clock)
    client = mode.client(route("a", price=A), budget=budget)
    reply = mode.call(client.chat.completions.parse, response_format=Capital)
    info = call_info(reply)
    assert (info.reasks, reached(llm_fake)) == (1, 2)
    paid = [a.cost for a in info.attempts]
    assert len(paid) == 2
    assert all(c > 0 for c in paid)
    assert budget.used()["daily"] == pytest.approx(sum(paid))
    assert info.cost == pytest.approx(sum(paid))


def test_a_partial_stream_counts_what_it_used(
    mode: Mode, llm_fake: Any, llm_faults: Any, llm_clock: VirtualClock
) -> None:
    llm_fake.add("one two three four five six seven eight")
    llm_faults.add(faults.ConnectionReset(after_chunks=4))
    budget = Budget(daily=10_000, clock=llm_clock)
    client = mode.client(route("a", price=A), budget=budget)
    with pytest.raises(StreamInterrupted) as caught:
        mode.stream(client.chat.completions.create)
    info = call_info(caught.value)
    assert info.usage is not None
    assert info.usage["estimated"] == 1
    assert info.usage["output_tokens"] > 0  # the text that reached the caller
    assert budget.used()["daily"] == info.usage["total_tokens"]
    assert info.cost == pytest.approx(A.cost(info.usage))


def test_a_stream_read_to_the_end_counts_its_reported_usage(
    mode: Mode, llm_fake: Any, llm_clock: VirtualClock
) -> None:
    budget = Budget(daily=10_000, clock=llm_clock)
    client = mode.client(route("a", price=A), budget=budget)
    stream, _ = mode.stream(client.chat.completions.create, stream_options={"include_usage": True})
    info = call_info(stream)
    assert info.usage is not None
    assert "estimated" not in info.usage
    assert budget.used()["daily"] == info.usage["total_tokens"]


def test_cache_hits_and_coalesced_followers_cost_nothing(
    llm_fake: Any, llm_faults: Any, llm_clock: VirtualClock
) -> None:
    budget = Budget(daily=100_000, clock=llm_clock)
    client = AsyncResilientClient(
        [route("a", price=A)], budget=budget, cache=True, coalesce=True, clock=llm_clock
    )
    llm_faults.add(faults.Slow(seconds=1))

    async def go() -> list[Any]:
        calls = (client.chat.completions.create(messages=MESSAGES, temperature=0) for _ in range(5))
        first = await asyncio.gather(*calls)
        return [*first, await client.chat.completions.create(messages=MESSAGES, temperature=0)]

    outs = asyncio.run(go())
    infos = [call_info(o) for o in outs]
    assert [i.cache for i in infos] == ["miss", *["coalesced"] * 4, "hit"]
    assert [i.cost for i in infos[1:]] == [0.0] * 5
    assert reached(llm_fake) == 1
    assert budget.used()["daily"] == infos[0].usage["total_tokens"]  # one call's worth


# -- 57: errors and cancellation give back what they held -------------------------------------


def test_an_error_releases_the_reservations(
    mode: Mode, llm_fake: Any, llm_faults: Any, llm_clock: VirtualClock
) -> None:
    llm_faults.add(faults.ServerError(503))
    budget = Budget(hourly=ESTIMATE, clock=llm_clock)
    limiter = RateLimiter(tpm=ESTIMATE, clock=llm_clock)
    client = mode.client(route("m"), budget=budget, limiter=limiter, max_retries=0)
    mode.raises(Exception, client.chat.completions.create, **CALL)
    assert budget.used() == {"hourly": 0.0}
    assert limiter.backend.usage("m@llm.test") == (0, 0, 0)  # type: ignore[attr-defined]
    exact_usage(llm_fake)
    mode.call(client.chat.completions.create, **CALL)  # the whole budget is there again
    assert llm_clock.monotonic() == 0.0


def test_cancellation_releases_the_reservations(
    llm_fake: Any, llm_faults: Any, llm_clock: VirtualClock
) -> None:
    llm_faults.add(faults.Slow(seconds=30))
    budget = Budget(hourly=ESTIMATE, clock=llm_clock)
    limiter = RateLimiter(tpm=ESTIMATE, rpm=100, clock=llm_clock)
    client = AsyncResilientClient([route("m")], budget=budget, limiter=limiter, clock=llm_clock)
    held: list[Any] = []

    async def go() -> None:
        task = asyncio.ensure_future(client.chat.completions.create(**CALL))
        while seen(llm_faults) < 1:
            await asyncio.sleep(0)
        held.append(budget.used())
        held.append(limiter.backend.usage("m@llm.test"))  # type: ignore[attr-defined]
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(go())
    assert held == [{"hourly": float(ESTIMATE)}, (0, ESTIMATE, 0)]
    assert budget.used() == {"hourly": 0.0}
    assert limiter.backend.usage("m@llm.test") == (0, 0, 0)  # type: ignore[attr-defined]
