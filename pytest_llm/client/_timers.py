"""Timers on the injected clock that race an await: never ``asyncio.wait_for`` on real
time, so under a ``VirtualClock`` a deadline or a chunk gap costs nothing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any, TypeVar

from .._clock import Clock

__all__ = ["TimerFired", "alarm", "race"]

T = TypeVar("T")


class TimerFired(Exception):
    """Internal: the clock's timer won a :func:`race`."""


async def race(awaitable: Awaitable[T], seconds: float | None, clock: Clock) -> T:
    """Await ``awaitable``, or raise :class:`TimerFired` after ``seconds`` on ``clock``.

    The loser is cancelled and awaited, so nothing is left running.
    """
    if seconds is None:
        return await awaitable
    task: asyncio.Future[T] = asyncio.ensure_future(awaitable)
    if seconds <= 0 and not task.done():
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        raise TimerFired
    timer: asyncio.Future[None] = asyncio.ensure_future(alarm(clock, seconds))
    waiting: set[asyncio.Future[Any]] = {task, timer}
    try:
        done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        task.cancel()
        timer.cancel()
        with contextlib.suppress(BaseException):
            await task
        with contextlib.suppress(BaseException):
            await timer
        raise
    if task in done:
        timer.cancel()
        with contextlib.suppress(BaseException):
            await timer
        return task.result()
    task.cancel()
    with contextlib.suppress(BaseException):
        await task
    raise TimerFired


def alarm(clock: Clock, seconds: float) -> Awaitable[None]:
    """A timer on ``clock``: a virtual clock does not count it among the app's waits."""
    ring = getattr(clock, "alarm", None)
    return ring(seconds) if ring is not None else clock.asleep(seconds)
