"""Every replayed test makes a virtual clock for the SDK's sleeps (issue 14); its table
of event loops (a ``WeakKeyDictionary``, ~4.7k instructions to make) is made at the
first async wait, not with the clock: most replayed tests never wait in a loop. Async
waits behave as before."""

from __future__ import annotations

import asyncio
import weakref

import pytest

from pytest_llm._clock import VirtualClock


def test_a_clock_makes_its_table_of_loops_at_the_first_async_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made: list[object] = []

    class Counting(weakref.WeakKeyDictionary):  # type: ignore[type-arg]
        def __init__(self) -> None:
            made.append(self)
            super().__init__()

    monkeypatch.setattr(weakref, "WeakKeyDictionary", Counting)
    clock = VirtualClock()
    with clock:
        clock.sleep(2)  # blocking sleeps and advances: no loop to wake
        clock.advance(1)
    assert made == []
    assert clock.monotonic() == 3.0
    assert clock.sleeps == [2.0]

    async def two_sleepers() -> None:
        await asyncio.gather(clock.asleep(5), clock.asleep(5))

    asyncio.run(two_sleepers())
    assert len(made) == 1
    assert clock.monotonic() == 8.0  # overlapping, as on real time
    assert clock.sleeps == [2.0, 5.0, 5.0]


def test_an_advance_still_wakes_an_async_sleeper_that_is_due() -> None:
    clock = VirtualClock()

    async def main() -> list[str]:
        order: list[str] = []

        async def sleeper() -> None:
            await clock.asleep(10)
            order.append("woke")

        task = asyncio.ensure_future(sleeper())
        await asyncio.sleep(0)  # the sleeper waits on the clock now
        clock.advance(10)
        order.append("advanced")
        await task
        return order

    assert asyncio.run(main()) == ["advanced", "woke"]
    assert clock.monotonic() == 10.0
