"""RateLimiter: sliding-window RPM, TPM reserve/settle, deadlines, fairness, pause.

Every test runs on the in-memory state and on a real redis-server (scripts on the
test's virtual clock): one suite for both stores. Time is a VirtualClock: no test
really sleeps through a limiter wait.
"""

from __future__ import annotations

import asyncio
import random
import threading
from dataclasses import dataclass

import pytest
from shared_state_helpers import backend, clock, most_in_window, redis_server, run_async, store

from pytest_llm import VirtualClock
from pytest_llm.client import ClientConfigError, RateLimitExceeded
from pytest_llm.client._limits import MemoryLimiterBackend, RateLimiter, Reservation
from pytest_llm.client._redis import RedisStore

__all__ = ["backend", "clock", "redis_server", "store"]  # fixtures, imported on purpose

ROUTE = "gpt-4o-mini@api.openai.com"


def limiter(clock: VirtualClock, store: RedisStore | None, **kw: object) -> RateLimiter:
    return RateLimiter(clock=clock, store=store, **kw)  # type: ignore[arg-type]


def queued(lim: RateLimiter, route: str = ROUTE) -> int:
    """Waiters in the route's queue right now (both stores)."""
    if isinstance(lim.backend, MemoryLimiterBackend):
        return lim.backend.usage(route)[2]
    assert lim.store is not None
    return int(lim.store.client.zcard(lim.store.key("lim", route, "q")))


# -- RPM over a sliding window -------------------------------------------------------


def test_rpm_threads_never_exceed_rpm_plus_burst_in_any_window(
    clock: VirtualClock, store: RedisStore | None
) -> None:
    lim = limiter(clock, store, rpm=40, burst=10)
    starts: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def one() -> None:
        try:
            res = lim.acquire(ROUTE)  # no deadline: threads' sleeps add up on virtual time
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
            return
        with lock:
            starts.append(res.started)
        res.settle(0)

    threads = [threading.Thread(target=one) for _ in range(200)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(starts) == 200
    assert starts.count(0.0) == 11  # the burst (and the first), at once
    # rpm + burst at most (blocking sleeps of 189 threads add up on a VirtualClock, so
    # later windows hold fewer)
    assert most_in_window(starts, 60.0) <= 50


@run_async
async def test_rpm_asyncio_never_exceeds_and_fails_fast_past_the_deadline(
    clock: VirtualClock, store: RedisStore | None
) -> None:
    lim = limiter(clock, store, rpm=40, burst=10)

    async def one() -> float | str:
        try:
            res = await lim.aacquire(ROUTE, deadline=clock.monotonic() + 90.0)
        except RateLimitExceeded as exc:
            return str(exc)
        res.settle(0)
        return res.started

    out = await asyncio.gather(*(one() for _ in range(200)))
    starts = [x for x in out if isinstance(x, float)]
    refused = [x for x in out if isinstance(x, str)]
    assert len(starts) + len(refused) == 200
    assert most_in_window(starts, 60.0) <= 50
    # 11 at once (burst), then one every 1.5 s up to the 90 s deadline
    assert 60 <= len(starts) <= 72
    assert all(s <= 90.0 for s in starts)
    assert all("past the deadline" in r or "within the deadline" in r for r in refused)
    assert queued(lim) == 0


def test_wait_past_the_deadline_fails_at_once(
    clock: VirtualClock, store: RedisStore | None
) -> None:
    lim = limiter(clock, store, rpm=1)
    lim.acquire(ROUTE).settle(0)
    with pytest.raises(RateLimitExceeded, match=r"in 60 s, past the deadline \(10 s left\)"):
        lim.acquire(ROUTE, deadline=clock.monotonic() + 10)
    assert clock.sleeps == []
    assert queued(lim) == 0
    res = lim.acquire(ROUTE, deadline=clock.monotonic() + 60)
    assert clock.sleeps == [60.0]
    assert res.waited == 60.0


# -- TPM: reserve, settle, release ---------------------------------------------------


def test_tpm_reserve_then_settle_to_actual(clock: VirtualClock, store: RedisStore | None) -> None:
    lim = limiter(clock, store, tpm=1000)
    first = lim.acquire(ROUTE, 600)
    # 600 reserved: 500 more do not fit until the first settles (wait unknown: poll)
    with pytest.raises(RateLimitExceeded, match="within the deadline"):
        lim.acquire(ROUTE, 500, deadline=clock.monotonic())
    first.settle(300)  # it used less than estimated: 700 free now
    second = lim.acquire(ROUTE, 500, deadline=clock.monotonic())
    assert clock.sleeps == []
    second.settle(500)  # 800 used in this window
    clock.advance(10)
    third = lim.acquire(ROUTE, 300)  # waits for the first's 300 (t=0) to leave the window
    assert clock.sleeps == [50.0]
    assert third.started == 60.0


def test_tpm_release_gives_tokens_back_and_is_idempotent(
    clock: VirtualClock, store: RedisStore | None
) -> None:
    lim = limiter(clock, store, tpm=1000)
    res = lim.acquire(ROUTE, 1000)
    res.release()
    res.release()
    res.settle(1000)  # after release: no effect
    assert res.done == "released"
    again = lim.acquire(ROUTE, 1000, deadline=clock.monotonic())
    assert again.started == 0.0


def test_request_larger_than_tpm_fails_at_once(
    clock: VirtualClock, store: RedisStore | None
) -> None:
    lim = limiter(clock, store, tpm=4000)
    with pytest.raises(RateLimitExceeded) as info:
        lim.acquire(ROUTE, 4001)
    assert str(info.value) == (
        f"rate limit: a request of ~4001 tokens on {ROUTE} can never fit in tpm=4000 "
        "(tokens per 60 s); not sent.\n"
        "Fix: raise tpm to at least 4001, lower max_tokens, or shorten the prompt."
    )
    assert clock.sleeps == []


@run_async
async def test_reserved_plus_settled_stay_within_tpm_under_concurrency(
    clock: VirtualClock, store: RedisStore | None
) -> None:
    tpm, window = 10_000, 10.0
    lim = limiter(clock, store, tpm=tpm, window=window)
    rng = random.Random(7)

    @dataclass
    class Call:
        start: float
        estimate: int
        end: float = float("inf")
        actual: int = 0

    calls: list[Call] = []

    async def one(estimate: int, hold: float, actual: int) -> None:
        res = await lim.aacquire(ROUTE, estimate)
        call = Call(res.started, estimate)
        calls.append(call)
        await clock.asleep(hold)
        call.end, call.actual = clock.monotonic(), actual
        res.settle(actual)

    plan = [
        (e := rng.randint(200, 3000), rng.uniform(0.5, 3.0), rng.randint(0, e)) for _ in range(40)
    ]
    await asyncio.gather(*(one(*p) for p in plan))
    assert len(calls) == 40
    eps = 1e-6  # Redis keeps times to the microsecond
    for c in calls:  # at each admission: in flight (estimates) + settled in window <= tpm
        t = c.start
        inflight = sum(o.estimate for o in calls if o.start <= t and o.end > t + eps)
        settled = sum(o.actual for o in calls if o.end <= t + eps and o.start > t - window + eps)
        assert inflight + settled <= tpm, (t, inflight, settled)


# -- fairness ------------------------------------------------------------------------


@run_async
async def test_large_request_is_not_starved_by_small_ones(
    clock: VirtualClock, store: RedisStore | None
) -> None:
    lim = limiter(clock, store, tpm=1000)
    lim.acquire(ROUTE, 900).settle(900)  # t=0: 900 of 1000 used until t=60
    order: list[tuple[str, float]] = []

    async def large() -> None:
        await clock.asleep(1)
        res = await lim.aacquire(ROUTE, 1000)  # must wait for t=60
        order.append(("large", res.started))
        res.settle(0)

    async def small(i: int) -> None:
        await clock.asleep(2 + i)  # arrive after the large one, while 100 still fit
        res = await lim.aacquire(ROUTE, 100)
        order.append((f"small{i}", res.started))
        res.settle(100)

    await asyncio.gather(large(), *(small(i) for i in range(5)))
    assert order[0][0] == "large"
    assert order[0][1] >= 60.0
    assert all(started >= order[0][1] for _, started in order[1:])


# -- pause (a 429's Retry-After) -------------------------------------------------------


@run_async
async def test_pause_holds_every_concurrent_caller(
    clock: VirtualClock, store: RedisStore | None
) -> None:
    lim = limiter(clock, store, rpm=1000, burst=100)

    async def caller(delay: float) -> float:
        await clock.asleep(delay)
        res = await lim.aacquire(ROUTE)
        res.settle(0)
        return res.started

    async def server_said_429() -> None:
        await clock.asleep(1)
        lim.pause(ROUTE, 7)
        lim.pause(ROUTE, 3)  # a shorter pause never cuts a longer one

    first = await caller(0)
    starts = await asyncio.gather(server_said_429(), *(caller(d) for d in (1.5, 2, 5, 7.9)))
    assert first == 0.0
    assert all(s >= 8.0 for s in starts[1:]), starts
    assert lim.paused_for(ROUTE) == 0.0
    assert lim.acquire("other-route").waited == 0.0  # other routes are not paused


def test_paused_for_reports_the_time_left(clock: VirtualClock, store: RedisStore | None) -> None:
    lim = limiter(clock, store, rpm=10)
    lim.pause(ROUTE, 30)
    clock.advance(12)
    assert lim.paused_for(ROUTE) == pytest.approx(18.0)


# -- cancellation and the queue --------------------------------------------------------


@run_async
async def test_cancelled_waiter_leaves_the_queue(
    clock: VirtualClock, store: RedisStore | None
) -> None:
    lim = limiter(clock, store, rpm=1)
    lim.acquire(ROUTE).settle(0)
    waiter = asyncio.ensure_future(lim.aacquire(ROUTE))
    for _ in range(20):
        await asyncio.sleep(0)
        if queued(lim):
            break
    assert queued(lim) == 1
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert queued(lim) == 0
    clock.advance(60)
    assert lim.acquire(ROUTE, deadline=clock.monotonic()).started == 60.0


def test_reservation_as_context_manager_releases(
    clock: VirtualClock, store: RedisStore | None
) -> None:
    lim = limiter(clock, store, tpm=100)
    with pytest.raises(RuntimeError), lim.acquire(ROUTE, 100):
        raise RuntimeError("the call failed")
    assert lim.acquire(ROUTE, 100, deadline=clock.monotonic()).started == 0.0


# -- never sleeps holding a lock (memory) ------------------------------------------------


def test_never_sleeps_while_holding_the_lock() -> None:
    lim: RateLimiter

    class Checking(VirtualClock):
        def sleep(self, seconds: float) -> None:
            assert not lim.backend._lock.locked()  # type: ignore[attr-defined]
            super().sleep(seconds)

    clk = Checking()
    lim = RateLimiter(rpm=2, clock=clk)
    for _ in range(5):
        lim.acquire(ROUTE).settle(0)
    assert clk.sleeps == [30.0, 30.0, 30.0, 30.0]


# -- configuration --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rpm": 0}, "RateLimiter(rpm=0): rpm must be a whole number above 0"),
        ({"rpm": -5}, "RateLimiter(rpm=-5): rpm must be a whole number above 0"),
        ({"tpm": 1.5}, "RateLimiter(tpm=1.5): tpm must be a whole number above 0"),
        ({"burst": -1}, "RateLimiter(burst=-1): burst is a whole number"),
        ({"window": 0}, "RateLimiter(window=0): the window is a finite number"),
        ({"rmp": 10}, "RateLimiter() got an unknown option 'rmp'; did you mean 'rpm'?"),
    ],
)
def test_bad_configuration_is_refused_at_construction(
    kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ClientConfigError) as info:
        RateLimiter(**kwargs)  # type: ignore[arg-type]
    assert str(info.value).startswith(message)
    assert "\nFix: " in str(info.value)


def test_repr_names_the_limits() -> None:
    assert repr(RateLimiter(rpm=500, tpm=200_000, burst=5)) == (
        "RateLimiter(rpm=500, tpm=200000, burst=5, window=60, store=memory)"
    )
    assert isinstance(RateLimiter().acquire(ROUTE), Reservation)  # no limits: admits
