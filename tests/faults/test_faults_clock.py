"""The virtual clock: what it records, how concurrent async sleeps overlap, what it patches."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
import time
from typing import Any

import openai
import pytest
from faults_support import TEXT, Upstream, chat

from pytest_llm import SystemClock, VirtualClock, WouldHang
from pytest_llm._flow import router
from pytest_llm.faults import FaultPlan, RateLimited, ServerError


def test_sleeps_are_recorded_and_move_time_without_waiting() -> None:
    clock = VirtualClock()
    clock.sleep(7)
    clock.sleep(0)  # a zero wait is no wait: not recorded
    clock.sleep(0.25)
    clock.advance(100)  # moving time is not a sleep
    assert clock.sleeps == [7.0, 0.25]
    assert clock.monotonic() == 107.25
    assert clock.now() == dt.datetime(2026, 1, 1, 0, 1, 47, 250000, tzinfo=dt.UTC)
    assert clock.time() == dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp() + 107.25
    assert (
        repr(clock)
        == "VirtualClock(now=2026-01-01T00:01:47.250000+00:00, monotonic=107.25, sleeps=2)"
    )
    asyncio.run(clock.asleep(3))  # the async side of the Clock protocol, on the same time
    assert clock.sleeps == [7.0, 0.25, 3.0]
    assert clock.monotonic() == 110.25


def test_start_and_seed_are_checked() -> None:
    assert VirtualClock(dt.datetime(2030, 5, 1, tzinfo=dt.UTC)).now().year == 2030
    with pytest.raises(ValueError, match=r"the start needs a timezone"):
        VirtualClock(dt.datetime(2030, 5, 1))
    with pytest.raises(TypeError) as info:
        VirtualClock(seed="7")  # type: ignore[arg-type]
    assert str(info.value) == (
        "VirtualClock(seed='7'): the seed must be an int, got str.\nFix: pass e.g. seed=1234."
    )


@pytest.mark.parametrize("clock", [VirtualClock(), SystemClock()], ids=["virtual", "system"])
def test_impossible_waits_fail_clearly(clock: Any) -> None:
    with pytest.raises(
        ValueError, match=r"^sleep\(-1.0\): the number of seconds must be 0 or more"
    ):
        clock.sleep(-1)
    with pytest.raises(WouldHang, match=r"^pytest-llm: a wait of inf seconds"):
        clock.sleep(float("inf"))
    with pytest.raises(WouldHang):
        asyncio.run(clock.asleep(float("inf")))


def test_gathered_async_sleeps_overlap_like_real_ones() -> None:
    clock = VirtualClock()
    woke: list[tuple[str, float]] = []

    async def nap(name: str, seconds: float) -> None:
        await clock.asleep(seconds)
        woke.append((name, clock.monotonic()))

    async def main() -> None:
        await asyncio.gather(nap("long", 5), nap("short", 3))

    asyncio.run(main())
    assert clock.sleeps == [5.0, 3.0]  # in the order the waits began
    assert woke == [("short", 3.0), ("long", 5.0)]  # in the order they end
    assert clock.monotonic() == 5.0  # overlapping, not 8


def test_sequential_async_sleeps_add_up() -> None:
    clock = VirtualClock()

    async def main() -> None:
        for _ in range(3):
            await clock.asleep(2)

    asyncio.run(main())
    assert (clock.sleeps, clock.monotonic()) == ([2.0, 2.0, 2.0], 6.0)


def test_time_stands_still_while_another_task_can_run() -> None:
    clock = VirtualClock()
    seen: list[float] = []

    async def busy() -> None:
        for _ in range(5):
            seen.append(clock.monotonic())
            await asyncio.sleep(0)  # runnable again at once: virtual time must wait for it

    async def main() -> None:
        await asyncio.gather(clock.asleep(10), busy())

    asyncio.run(main())
    assert seen == [0.0] * 5
    assert clock.monotonic() == 10.0


def test_a_cancelled_sleep_does_not_move_time() -> None:
    clock = VirtualClock()

    async def main() -> None:
        task = asyncio.create_task(clock.asleep(100))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await clock.asleep(5)

    asyncio.run(main())
    assert clock.monotonic() == 5.0
    assert clock.sleeps == [100.0, 5.0]  # the cancelled one began, so it is recorded


def test_a_blocking_sleep_in_a_thread_wakes_async_sleepers_that_are_due() -> None:
    clock = VirtualClock()
    started = threading.Event()
    order: list[str] = []

    def worker() -> None:
        started.wait()
        clock.sleep(30)
        order.append("thread slept 30")

    async def main() -> None:
        loop = asyncio.get_running_loop()
        # keep the loop busy so that only the thread's sleep can move time
        stop = asyncio.Event()

        async def spin() -> None:
            while not stop.is_set():
                await asyncio.sleep(0)

        spinner = asyncio.create_task(spin())
        waiter = asyncio.create_task(clock.asleep(20))
        await asyncio.sleep(0)
        started.set()
        await loop.run_in_executor(None, thread.join)
        await waiter
        order.append(f"task woke at {clock.monotonic():g}")
        stop.set()
        await spinner

    thread = threading.Thread(target=worker)
    thread.start()
    asyncio.run(main())
    assert order == ["thread slept 30", "task woke at 30"]


def test_install_sets_the_flow_clock_and_restores_it() -> None:
    before = router.clock
    import openai._base_client as base

    real_time, real_anyio = base.time, base.anyio
    with VirtualClock() as outer:
        assert router.clock is outer
        with VirtualClock() as inner:
            assert router.clock is inner
            base.time.sleep(3)
            assert (inner.sleeps, outer.sleeps) == ([3.0], [])
        assert router.clock is outer
        base.time.sleep(4)
        assert outer.sleeps == [4.0]
    assert router.clock is before
    assert (base.time, base.anyio) == (real_time, real_anyio)
    with pytest.raises(RuntimeError, match=r"without a matching install"):
        VirtualClock().uninstall()


def test_only_the_sdks_names_are_swapped_never_time_sleep_itself(llm_clock: VirtualClock) -> None:
    import openai._base_client as base

    assert time.sleep.__module__ == "time"  # the process's time.sleep is untouched
    assert base.time.perf_counter is time.perf_counter  # everything else is the real module
    assert base.time.time() == llm_clock.time()  # Retry-After dates are read on the clock


def test_the_sdks_polling_sleeps_are_captured(llm_clock: VirtualClock) -> None:
    client = openai.OpenAI(api_key="sk-test", base_url="http://llm.test/v1")
    client.chat.completions._sleep(3)  # what the SDK's *_and_poll helpers call
    assert llm_clock.sleeps == [3.0]


def test_sdk_backoff_jitter_comes_from_the_clocks_seed(up: Upstream) -> None:
    def backoff(seed: int) -> list[float]:
        with VirtualClock(seed=seed) as clock, FaultPlan(ServerError(), ServerError()):
            assert chat(False).choices[0].message.content == TEXT
        return clock.sleeps

    assert backoff(1) == backoff(1)
    assert backoff(1) != backoff(2)
    first, second = backoff(1)
    assert 0.375 <= first <= 0.5
    assert 0.75 <= second <= 1.0


def test_the_acceptance_scenario_runs_without_pytest(up: Upstream) -> None:
    """Two 429s with Retry-After: 7, then the answer: two recorded 7 s waits."""
    with VirtualClock() as clock, FaultPlan(RateLimited(retry_after=7), RateLimited(retry_after=7)):
        answer = chat(False)
    assert answer.choices[0].message.content == TEXT
    assert clock.sleeps == [7.0, 7.0]


def test_concurrent_sdk_calls_wait_their_retry_after_side_by_side(up: Upstream) -> None:
    """Two requests meet a 429 each and wait 7 s each, at the same time: 7 s pass, not 14."""
    client = openai.AsyncOpenAI(api_key="sk-test", base_url="http://llm.test/v1")

    async def ask() -> str | None:
        reply = await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
        )
        return reply.choices[0].message.content

    async def main() -> list[str | None]:
        # The SDK's first request looks up the platform in a worker thread: real work,
        # which virtual time does not wait for. Warm the client first.
        await ask()
        return list(await asyncio.gather(ask(), ask()))

    with (
        VirtualClock() as clock,
        FaultPlan(None, RateLimited(retry_after=7), RateLimited(retry_after=7)),
    ):
        assert asyncio.run(main()) == [TEXT, TEXT]
    assert clock.sleeps == [7.0, 7.0]
    assert clock.monotonic() == 7.0
