"""SingleFlight: identical concurrent calls share one upstream call."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from shared_state_helpers import run_async

from pytest_llm.client import ClientConfigError
from pytest_llm.client._coalesce import SingleFlight


@run_async
async def test_1000_identical_async_requests_make_exactly_one_call() -> None:
    flight = SingleFlight()
    gate = asyncio.Event()
    calls = 0

    async def upstream() -> dict[str, object]:
        nonlocal calls
        calls += 1
        await gate.wait()
        return {"content": "Paris.", "usage": {"total_tokens": 12}}

    tasks = [asyncio.ensure_future(flight.ado_ex("k", upstream)) for _ in range(1000)]
    await asyncio.sleep(0)  # every task is waiting now
    gate.set()
    out = await asyncio.gather(*tasks)
    assert calls == 1
    assert flight.calls == 1
    values = [v for v, _ in out]
    assert all(v == {"content": "Paris.", "usage": {"total_tokens": 12}} for v in values)
    assert [c for _, c in out].count(False) == 1  # one leader, 999 coalesced
    assert len({id(v) for v in values}) == 1000  # followers get their own copies
    assert flight.in_flight() == 0


@run_async
async def test_copy_none_hands_everyone_the_same_object() -> None:
    flight = SingleFlight(copy=None)
    gate = asyncio.Event()
    result = ("immutable",)

    async def upstream() -> tuple[str]:
        await gate.wait()
        return result

    tasks = [asyncio.ensure_future(flight.ado("k", upstream)) for _ in range(10)]
    await asyncio.sleep(0)
    gate.set()
    assert all(v is result for v in await asyncio.gather(*tasks))


@run_async
async def test_different_keys_never_merge() -> None:
    flight = SingleFlight()
    gate = asyncio.Event()
    seen: list[str] = []

    def upstream(key: str):  # type: ignore[no-untyped-def]
        async def call() -> str:
            seen.append(key)
            await gate.wait()
            return key

        return call

    tasks = [asyncio.ensure_future(flight.ado(k, upstream(k))) for k in ["a", "b", "a", "c", "b"]]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*tasks) == ["a", "b", "a", "c", "b"]
    assert sorted(seen) == ["a", "b", "c"]


@run_async
async def test_leader_cancelled_a_follower_takes_over_and_nobody_gets_none() -> None:
    flight = SingleFlight()
    gate = asyncio.Event()
    calls = 0

    async def upstream() -> str:
        nonlocal calls
        calls += 1
        await gate.wait()
        return f"answer {calls}"

    leader = asyncio.ensure_future(flight.ado("k", upstream))
    await asyncio.sleep(0)
    followers = [asyncio.ensure_future(flight.ado("k", upstream)) for _ in range(20)]
    await asyncio.sleep(0)
    assert calls == 1
    leader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leader
    await asyncio.sleep(0)
    assert flight.in_flight() == 1  # a follower took over the key
    gate.set()
    results = await asyncio.gather(*followers)
    assert calls == 2
    assert results == ["answer 2"] * 20
    assert flight.in_flight() == 0


@run_async
async def test_cancelled_follower_does_not_disturb_the_others() -> None:
    flight = SingleFlight()
    gate = asyncio.Event()

    async def upstream() -> str:
        await gate.wait()
        return "ok"

    tasks = [asyncio.ensure_future(flight.ado("k", upstream)) for _ in range(5)]
    await asyncio.sleep(0)
    tasks[3].cancel()
    gate.set()
    out = await asyncio.gather(*tasks, return_exceptions=True)
    assert out[:3] == ["ok"] * 3
    assert out[4] == "ok"
    assert isinstance(out[3], asyncio.CancelledError)


@run_async
async def test_error_reaches_every_waiter_and_is_not_remembered() -> None:
    flight = SingleFlight()
    gate = asyncio.Event()
    calls = 0

    async def failing() -> str:
        nonlocal calls
        calls += 1
        await gate.wait()
        raise ConnectionError("upstream reset")

    tasks = [asyncio.ensure_future(flight.ado("k", failing)) for _ in range(50)]
    await asyncio.sleep(0)
    gate.set()
    out = await asyncio.gather(*tasks, return_exceptions=True)
    assert calls == 1
    assert all(isinstance(e, ConnectionError) for e in out)
    assert flight.in_flight() == 0

    async def working() -> str:
        return "fresh"

    assert await flight.ado("k", working) == "fresh"  # the error was not cached


# -- threads -------------------------------------------------------------------------------


def _wait_until(predicate, what: str) -> None:  # type: ignore[no-untyped-def]
    """Real-time wait for other threads to get somewhere (a failure, not a time bound)."""
    for _ in range(5000):
        if predicate():
            return
        time.sleep(0.001)
    raise AssertionError(f"threads never reached: {what}")


def _followers(flight: SingleFlight, key: str) -> int:
    call = flight._calls.get(key)
    return 0 if call is None else call.followers


def test_threads_share_one_call_and_get_copies() -> None:
    flight = SingleFlight()
    release = threading.Event()
    calls = 0

    def upstream() -> list[str]:
        nonlocal calls
        calls += 1
        release.wait()
        return ["Paris."]

    out: list[list[str]] = []
    threads = [
        threading.Thread(target=lambda: out.append(flight.do("k", upstream))) for _ in range(50)
    ]
    for t in threads:
        t.start()
    _wait_until(lambda: _followers(flight, "k") == 49, "49 followers waiting")
    release.set()
    for t in threads:
        t.join()
    assert calls == 1
    assert out == [["Paris."]] * 50
    assert len({id(v) for v in out}) == 50


def test_thread_leader_without_verdict_hands_over_and_error_is_shared() -> None:
    flight = SingleFlight()
    release = threading.Event()
    calls = 0

    class Interrupt(BaseException):
        pass

    def first() -> str:
        nonlocal calls
        calls += 1
        release.wait()
        raise Interrupt  # e.g. KeyboardInterrupt: no verdict

    def later() -> str:
        nonlocal calls
        calls += 1
        raise ValueError("bad request")

    results: list[object] = []

    def follower() -> None:
        try:
            results.append(flight.do("k", later))
        except ValueError as exc:
            results.append(exc)

    leader_error: list[BaseException] = []

    def leader() -> None:
        try:
            flight.do("k", first)
        except Interrupt as exc:
            leader_error.append(exc)

    lt = threading.Thread(target=leader)
    lt.start()
    _wait_until(lambda: calls == 1, "the leader's call")
    fts = [threading.Thread(target=follower) for _ in range(10)]
    for t in fts:
        t.start()
    _wait_until(lambda: _followers(flight, "k") == 10, "10 followers waiting")
    release.set()
    lt.join()
    for t in fts:
        t.join()
    assert len(leader_error) == 1
    # one follower took over and called `later`; its error reached the other followers
    # that were waiting on it, or they called afresh (the error is not remembered)
    assert all(isinstance(r, ValueError) for r in results)
    assert len(results) == 10
    assert 2 <= calls <= 11
    assert flight.in_flight() == 0


def test_unknown_option_suggests_the_right_one() -> None:
    with pytest.raises(ClientConfigError, match=r"unknown option 'cpy'; did you mean 'copy'\?"):
        SingleFlight(cpy=None)  # type: ignore[call-arg]
