"""The rate limiter through the client and the real openai SDK (CONTRACTS 40-44):
request start times are taken where the fake provider sees them, on the virtual clock.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from client_helpers import MESSAGES, Mode, reached, route, seen
from shared_state_helpers import most_in_window

from pytest_llm import VirtualClock, faults
from pytest_llm.client import AsyncResilientClient, RateLimitExceeded, call_info
from pytest_llm.client._limits import RateLimiter


def record_starts(llm_fake: Any, clock: VirtualClock, **script: Any) -> list[float]:
    """Every request that reaches the fake appends the virtual time it arrived at."""
    starts: list[float] = []

    def arrived(request: Any) -> bool:
        starts.append(clock.monotonic())
        return True

    llm_fake.add(script.pop("content", "ok"), match=arrived, times=None, **script)
    return starts


async def _together(*calls: Any) -> list[Any]:
    return await asyncio.gather(*calls, return_exceptions=True)


# -- 40: RPM over any sliding window -------------------------------------------------------


def test_rpm_holds_over_every_sliding_window_async(llm_fake: Any, llm_clock: VirtualClock) -> None:
    starts = record_starts(llm_fake, llm_clock)
    limiter = RateLimiter(rpm=10, burst=2, clock=llm_clock)
    client = AsyncResilientClient([route("m")], limiter=limiter, clock=llm_clock)
    create = client.chat.completions.create
    outs = asyncio.run(_together(*(create(messages=MESSAGES) for _ in range(40))))
    assert all(not isinstance(o, BaseException) for o in outs)
    assert len(starts) == 40
    assert most_in_window(starts, 60.0) == 12  # rpm + burst, never more
    assert most_in_window(starts, 30.0) <= 2 + 5  # smoothed: no first-window rush of 2x
    waits = sorted(call_info(o).attempts[0].limiter_wait for o in outs)
    assert waits[:3] == [0.0, 0.0, 0.0]  # 1 + burst start at once
    assert waits[-1] == pytest.approx(max(starts))  # the wait is reported on the attempt


def test_rpm_holds_for_sequential_calls(mode: Mode, llm_fake: Any, llm_clock: VirtualClock) -> None:
    starts = record_starts(llm_fake, llm_clock)
    client = mode.client(route("m"), limiter=RateLimiter(rpm=6, clock=llm_clock))
    for _ in range(13):
        mode.call(client.chat.completions.create)
    assert starts == pytest.approx([10.0 * i for i in range(13)])
    assert most_in_window(starts, 60.0) == 6


# -- 41, 42: TPM reserve and settle ---------------------------------------------------------


def test_tpm_reserves_the_estimate_and_settles_to_the_reported_usage(
    llm_fake: Any, llm_faults: Any, llm_clock: VirtualClock
) -> None:
    """tpm 600, two requests of ~410 estimated tokens (max_tokens 400): the second waits
    for the first, then starts as soon as the first settled to its real ~17 tokens, long
    before the minute is over."""
    starts = record_starts(llm_fake, llm_clock)
    llm_faults.add(faults.Slow(seconds=5))
    limiter = RateLimiter(tpm=600, clock=llm_clock)
    client = AsyncResilientClient([route("m")], limiter=limiter, clock=llm_clock)
    create = client.chat.completions.create

    async def go() -> list[Any]:
        first = asyncio.ensure_future(create(messages=MESSAGES, max_tokens=400))
        while seen(llm_faults) < 1:
            await asyncio.sleep(0)
        second = asyncio.ensure_future(create(messages=MESSAGES, max_tokens=400))
        return list(await asyncio.gather(first, second))

    first, second = asyncio.run(go())
    assert starts[0] == 0.0  # its reply comes 5 s later
    assert 5.0 <= starts[1] < 6.0  # admitted right after the first settled
    assert call_info(second).attempts[0].limiter_wait >= 5.0
    backend = limiter.backend
    settled = first.usage.total_tokens + second.usage.total_tokens
    # (settled, reserved, queued): the real usage, nothing held
    assert backend.usage("m@llm.test") == (settled, 0, 0)  # type: ignore[attr-defined]
    assert settled < 100


def test_a_request_larger_than_the_whole_tpm_fails_at_once(
    mode: Mode, llm_fake: Any, llm_clock: VirtualClock
) -> None:
    client = mode.client(route("m"), limiter=RateLimiter(tpm=300, clock=llm_clock))
    err = mode.raises(RateLimitExceeded, client.chat.completions.create, max_tokens=500)
    assert str(err).startswith("rate limit: a request of ~")
    assert "can never fit in tpm=300" in str(err)
    assert reached(llm_fake) == 0
    assert llm_clock.sleeps == []
    assert call_info(err).requests == 0


# -- 43: waits bounded by the deadline ------------------------------------------------------


def test_a_limiter_wait_past_the_deadline_is_not_taken(
    mode: Mode, llm_fake: Any, llm_clock: VirtualClock
) -> None:
    client = mode.client(route("m"), limiter=RateLimiter(rpm=1, clock=llm_clock), deadline=10)
    mode.call(client.chat.completions.create)
    err = mode.raises(RateLimitExceeded, client.chat.completions.create)
    assert "past the deadline" in str(err)
    assert llm_clock.monotonic() == 0.0  # failed at once, not after waiting out the deadline
    assert reached(llm_fake) == 1
    # with a longer deadline the same call waits its turn (60 s at rpm=1)
    patient = mode.client(route("m"), limiter=client.limiter, deadline=120)
    reply = mode.call(patient.chat.completions.create)
    assert call_info(reply).attempts[0].limiter_wait == pytest.approx(60.0)
    assert reached(llm_fake) == 2


def test_a_route_over_its_limit_falls_over_to_the_next(
    mode: Mode, llm_fake: Any, llm_clock: VirtualClock
) -> None:
    client = mode.client(
        route("a"), route("b"), limiter=RateLimiter(rpm=1, clock=llm_clock), deadline=5
    )
    mode.call(client.chat.completions.create)
    reply = mode.call(client.chat.completions.create)
    info = call_info(reply)
    assert info.route == "b@llm.test"
    assert info.attempts[0].skipped
    assert info.attempts[0].reason.startswith("rate limit: a@llm.test could start this request")
    assert [r.model for r in llm_fake.requests] == ["a", "b"]


def test_a_large_request_is_not_starved_by_small_ones(
    llm_fake: Any, llm_faults: Any, llm_clock: VirtualClock
) -> None:
    """FIFO per route: a large request that queued first starts before the small ones
    behind it, although they would fit earlier."""
    order: list[int] = []

    def arrived(request: Any) -> bool:
        order.append(int(request.json.get("max_tokens")))
        return True

    llm_fake.add("ok", match=arrived, times=None)
    llm_faults.add(faults.Slow(seconds=5))
    client = AsyncResilientClient(
        [route("m")], limiter=RateLimiter(tpm=1000, clock=llm_clock), clock=llm_clock
    )
    create = client.chat.completions.create

    async def go() -> None:
        first = asyncio.ensure_future(create(messages=MESSAGES, max_tokens=600))
        while seen(llm_faults) < 1:
            await asyncio.sleep(0)
        big = asyncio.ensure_future(create(messages=MESSAGES, max_tokens=900))
        await asyncio.sleep(0)
        small = [asyncio.ensure_future(create(messages=MESSAGES, max_tokens=100)) for _ in range(3)]
        await asyncio.gather(first, big, *small)

    asyncio.run(go())
    assert order[:2] == [600, 900]


# -- 44: a 429 pauses the route for every caller ---------------------------------------------


def test_a_429_with_retry_after_pauses_the_route_for_every_concurrent_caller(
    llm_fake: Any, llm_faults: Any, llm_clock: VirtualClock
) -> None:
    starts = record_starts(llm_fake, llm_clock)
    llm_faults.add(faults.RateLimited(retry_after=7))
    client = AsyncResilientClient(
        [route("m")], limiter=RateLimiter(rpm=1000, burst=10, clock=llm_clock), clock=llm_clock
    )
    create = client.chat.completions.create

    async def later() -> Any:
        await llm_clock.asleep(1)  # after the 429, before its Retry-After is over
        return await create(messages=MESSAGES)

    outs = asyncio.run(_together(create(messages=MESSAGES), *(later() for _ in range(4))))
    assert all(not isinstance(o, BaseException) for o in outs)
    assert seen(llm_faults) == 6  # the 429, then 5 requests that passed
    assert len(starts) == 5
    assert min(starts) >= 7.0  # nobody reached the provider during the pause
    others = [call_info(o).attempts[0].limiter_wait for o in outs[1:]]
    assert all(6.0 <= w < 6.1 for w in others), others  # queued 10 ms apart after it
    assert call_info(outs[0]).waits == [7.0]


def test_without_a_pause_other_callers_go_on(llm_fake: Any, llm_clock: VirtualClock) -> None:
    """The control of the test above: with no 429 the late callers start at once."""
    starts = record_starts(llm_fake, llm_clock)
    client = AsyncResilientClient(
        [route("m")], limiter=RateLimiter(rpm=1000, burst=10, clock=llm_clock), clock=llm_clock
    )

    async def later() -> Any:
        await llm_clock.asleep(1)
        return await client.chat.completions.create(messages=MESSAGES)

    asyncio.run(_together(*(later() for _ in range(4))))
    assert starts == [1.0] * 4
