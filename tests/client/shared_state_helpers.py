"""Fixtures and checks shared by the limiter, budget and Redis tests.

``backend`` runs a test once on the in-memory state and once on a real ``redis-server``
(a private loopback port) whose scripts read the test's virtual clock, so both stores
pass the same suite on virtual time.
"""

from __future__ import annotations

import asyncio
import bisect
import functools
import itertools
from collections.abc import Callable, Coroutine, Iterator, Sequence
from typing import Any, ParamSpec, TypeVar

import pytest
from redis_server import RedisServer, redis_available

from pytest_llm import VirtualClock
from pytest_llm.client._redis import RedisStore

_names = itertools.count()
P = ParamSpec("P")
R = TypeVar("R")


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    if not redis_available():  # pragma: no cover - CI installs it
        pytest.skip("redis-server is not installed")
    with RedisServer() as server:
        yield server


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def store(
    backend: str, request: pytest.FixtureRequest, clock: VirtualClock
) -> Iterator[RedisStore | None]:
    """``None`` (memory) or a RedisStore on virtual time with a namespace of its own."""
    if backend == "memory":
        yield None
        return
    server: RedisServer = request.getfixturevalue("redis_server")
    s = RedisStore(server.url, clock=clock, namespace=f"t{next(_names)}", timeout=10)
    yield s
    s.flush()
    s.close()


def most_in_window(starts: Sequence[float], window: float) -> int:
    """The largest number of ``starts`` inside any half-open window ``[t, t + window)``."""
    ordered = sorted(starts)
    best = 0
    for i, t in enumerate(ordered):
        j = bisect.bisect_left(ordered, t + window - 1e-6)  # 6-decimal Redis times
        best = max(best, j - i)
    return best


def run_async(fn: Callable[P, Coroutine[Any, Any, R]]) -> Callable[P, R]:
    """An ``async def`` test run by ``asyncio.run`` (the suite has no asyncio plugin)."""

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        return asyncio.run(fn(*args, **kwargs))

    return wrapper
