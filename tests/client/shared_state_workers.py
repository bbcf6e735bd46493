"""Worker functions for the multi-process Redis tests (spawned: no pytest import here).

Each worker builds its own RedisStore, says it is ready, waits for the shared "go"
key, then fires its requests from threads. Every process gets a clock skewed by a
different number of hours: the store decides on the Redis server's TIME, so the skew
must not matter.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from pytest_llm._clock import system_clock
from pytest_llm.client import BudgetExceeded, RateLimitExceeded
from pytest_llm.client._budget import Budget
from pytest_llm.client._limits import RateLimiter
from pytest_llm.client._redis import RedisStore

T = TypeVar("T")

ROUTE = "gpt-4o-mini@api.openai.com"


class SkewedClock:
    """The real clock, read ``hours`` off (sleeps are real)."""

    def __init__(self, hours: float) -> None:
        self.offset = hours * 3600.0

    def monotonic(self) -> float:
        return system_clock.monotonic() + self.offset

    def now(self) -> dt.datetime:
        return system_clock.now() + dt.timedelta(seconds=self.offset)

    def sleep(self, seconds: float) -> None:
        system_clock.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        await system_clock.asleep(seconds)


def _start(store: RedisStore, ns: str, seconds: int = 30) -> None:
    store.client.incr(f"{ns}:ready")
    for _ in range(seconds * 1000):  # real time: waiting for the other processes to spawn
        if store.client.exists(f"{ns}:go"):
            return
        time.sleep(0.001)
    raise RuntimeError("never got the go signal")


def _fire(threads: int, one: Callable[[], T]) -> list[T]:
    out: list[T] = []
    lock = threading.Lock()

    def run() -> None:
        value = one()
        with lock:
            out.append(value)

    ts = [threading.Thread(target=run) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def budget_worker(url: str, ns: str, threads: int, skew_hours: float) -> list[object]:
    store = RedisStore(url, namespace=ns, timeout=10)
    budget = Budget(hourly=50, clock=SkewedClock(skew_hours), store=store)

    def one() -> object:
        try:
            res = budget.reserve(ROUTE, 1)
        except BudgetExceeded as exc:
            return f"refused: {exc}"
        return "ok" if res.status is None else f"degraded: {res.status}"

    _start(store, ns)
    return _fire(threads, one)


def rpm_worker(url: str, ns: str, threads: int, skew_hours: float, deadline: float) -> list[object]:
    clock = SkewedClock(skew_hours)
    store = RedisStore(url, namespace=ns, timeout=10)
    limiter = RateLimiter(rpm=40, burst=10, window=1.0, clock=clock, store=store)

    def one() -> object:
        try:
            res = limiter.acquire(ROUTE, deadline=clock.monotonic() + deadline)
        except RateLimitExceeded:
            return "refused"
        res.settle(0)
        return res.started if res.status is None else f"degraded: {res.status}"

    _start(store, ns)
    return _fire(threads, one)
