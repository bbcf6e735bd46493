"""The two drivers of the call flow: they carry out what ``_plan.run_call`` decides.

The sync driver blocks (timeouts go to the SDK's HTTP client, cut to the deadline);
the async driver races every await against a timer on the injected clock, never
``asyncio.wait_for`` on real time, so a deadline, a time-to-first-token or a chunk
gap costs nothing under a ``VirtualClock``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable, Generator
from typing import Any, TypeVar

from .._clock import Clock
from ._errors import ClientConfigError, DeadlineExceeded
from ._plan import Admit, Outcome, Send, Timeouts, Wait
from ._stream import Tracker, sdk_stream_error
from ._timers import TimerFired, alarm, race

__all__ = [
    "TimerFired",
    "drive_async",
    "drive_sync",
    "not_on_asyncio",
    "open_stream_async",
    "open_stream_sync",
    "race",
]

T = TypeVar("T")

SendSync = Callable[[Send, Any], Any]
SendAsync = Callable[[Send, Any], Awaitable[Any]]


def sdk_timeout(timeouts: Timeouts, left: float | None, stream: bool) -> Any:
    """The SDK's ``timeout=`` for one attempt: connect and read, cut to the deadline."""
    read = timeouts.read
    if stream:
        # one read timeout serves the whole response: the chunk timer when there is one
        # (it is what applies once content flows), else the first-token timer; the
        # client checks both timers itself as events arrive
        extra = timeouts.chunk if timeouts.chunk is not None else timeouts.first_token
        if extra is not None:
            read = extra if read is None else min(read, extra)
    connect = timeouts.connect
    if left is None:  # no deadline: the same few timeouts every attempt, built once
        return _fixed_timeout(read, connect)
    import openai

    left = max(left, 1e-3)
    read = left if read is None else min(read, left)
    connect = left if connect is None else min(connect, left)
    return openai.Timeout(read, connect=connect, read=read, write=read, pool=connect)


@functools.lru_cache(maxsize=64)
def _fixed_timeout(read: float | None, connect: float | None) -> Any:
    import openai

    return openai.Timeout(read, connect=connect, read=read, write=read, pool=connect)


# -- sync ------------------------------------------------------------------------------


def drive_sync(
    flow: Generator[Send | Wait | Admit, Outcome | None, Any], send: SendSync, clock: Clock
) -> Any:
    reply: Outcome | None = None
    try:
        action = next(flow)
        while True:
            if isinstance(action, Wait):
                clock.sleep(action.seconds)
                reply = None
            elif isinstance(action, Admit):
                try:
                    reply = Outcome(
                        value=action.gate.admit(action.route, action.kwargs, action.deadline_at)
                    )
                except Exception as exc:
                    reply = Outcome(error=exc)
            else:
                reply = _send_sync(action, send, clock)
            action = flow.send(reply)
    except StopIteration as stop:
        return stop.value


def _send_sync(action: Send, send: SendSync, clock: Clock) -> Outcome:
    action.attempt.started = clock.monotonic()
    try:
        timeout = sdk_timeout(action.timeouts, action.deadline_left, action.stream)
        value = send(action, timeout)
        if action.stream:
            value = open_stream_sync(
                value, action.api, action.attempt.started, action.timeouts.first_token, clock
            )
    except BaseException as exc:
        return Outcome(error=exc)
    return Outcome(value=value)


def open_stream_sync(
    raw: Any, api: str, started: float, first: float | None, clock: Clock
) -> tuple[Any, Tracker, list[Any]]:
    """Read a stream up to its first content; failures here are pre-output (retryable).

    ``started``: when the attempt began; ``first``: the time-to-first-token limit (22)."""
    tracker = Tracker(api, clock, started)
    buffered: list[Any] = []
    iterator = tracker.source = iter(raw)  # the stream goes on with it
    try:
        while True:
            try:
                event = next(iterator)
            except StopIteration:
                _ended(tracker)
                break
            except Exception as exc:
                if first is not None and _timed_out(exc):
                    raise tracker.first_token_timeout(first) from exc
                raise sdk_stream_error(exc, tracker) from exc
            if first is not None and clock.monotonic() - tracker.started > first:
                raise tracker.first_token_timeout(first)
            if _took(event, tracker, buffered):
                break
    except BaseException:
        with contextlib.suppress(Exception):
            raw.close()
        raise
    return raw, tracker, buffered


# -- async -----------------------------------------------------------------------------


async def drive_async(
    flow: Generator[Send | Wait | Admit, Outcome | None, Any], send: SendAsync, clock: Clock
) -> Any:
    reply: Outcome | None = None
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        flow.close()
        raise not_on_asyncio() from None
    try:
        action = next(flow)
        while True:
            if isinstance(action, Wait):
                try:
                    await clock.asleep(action.seconds)
                except asyncio.CancelledError as exc:
                    action = flow.throw(exc)
                    continue
                reply = None
            elif isinstance(action, Admit):
                try:
                    hold = await action.gate.aadmit(action.route, action.kwargs, action.deadline_at)
                except asyncio.CancelledError as exc:
                    action = flow.throw(exc)
                    continue
                except Exception as exc:
                    reply = Outcome(error=exc)
                else:
                    reply = Outcome(value=hold)
            else:
                reply = await _send_async(action, send, clock)
            action = flow.send(reply)
    except StopIteration as stop:
        return stop.value


def not_on_asyncio() -> ClientConfigError:
    """The error of an async call made with no asyncio event loop running (trio?)."""
    return ClientConfigError(
        "AsyncResilientClient runs on asyncio (its timers and hedged attempts are asyncio "
        "tasks), and no asyncio event loop is running here (trio?).\n"
        "Fix: run it under asyncio (with anyio: anyio_backend='asyncio'), or call "
        "ResilientClient from a worker thread (anyio.to_thread.run_sync)."
    )


async def _one(action: Send, send: SendAsync, clock: Clock, *, hedge: bool) -> Any:
    route_action = action
    if hedge:
        assert action.hedge_route is not None
        assert action.hedge_kwargs is not None
        route_action = Send(
            action.hedge_route,
            action.hedge_kwargs,
            action.hedge_attempt or action.attempt,
            action.timeouts,
            action.deadline_left,
            action.stream,
            api=action.api,
        )
    left = action.deadline_left
    if left is not None:
        left -= clock.monotonic() - action.attempt.started
    timeout = sdk_timeout(action.timeouts, left, action.stream)
    deadline_at = None if left is None else clock.monotonic() + left
    try:
        if left is None:  # no deadline: no timer to race, no task
            raw = await send(route_action, timeout)
        else:
            raw = await race(send(route_action, timeout), left, clock)
        if action.stream:
            remaining = None if deadline_at is None else deadline_at - clock.monotonic()
            return await open_stream_async(
                raw,
                route_action.api,
                route_action.attempt.started,
                route_action.timeouts.first_token,
                clock,
                remaining,
            )
        return raw
    except TimerFired:
        raise DeadlineExceeded(
            "pytest-llm client: the attempt ran into the call's deadline."
        ) from None


async def _send_async(action: Send, send: SendAsync, clock: Clock) -> Outcome:
    action.attempt.started = clock.monotonic()
    if action.hedge_route is None:
        try:
            return Outcome(value=await _one(action, send, clock, hedge=False))
        except BaseException as exc:
            return Outcome(error=exc)
    return await _hedged(action, send, clock)


async def _hedged(action: Send, send: SendAsync, clock: Clock) -> Outcome:
    """Primary now; the hedge after ``hedge_delay`` if the primary has not answered.

    The first *successful* answer wins and the other is cancelled; if one fails, the
    other is awaited."""
    primary = asyncio.ensure_future(_one(action, send, clock, hedge=False))
    outcome = Outcome()
    try:
        done, _ = await asyncio.wait(
            {primary, asyncio.ensure_future(alarm(clock, action.hedge_delay))},
            return_when=asyncio.FIRST_COMPLETED,
        )
    except BaseException as exc:
        primary.cancel()
        with contextlib.suppress(BaseException):
            await primary
        return Outcome(error=exc)
    if primary in done:
        _settle(primary, outcome, "primary")
        return outcome
    assert action.hedge_attempt is not None
    action.hedge_attempt.started = clock.monotonic()
    outcome.hedge_started = True
    hedge = asyncio.ensure_future(_one(action, send, clock, hedge=True))
    pending = {primary, hedge}
    try:
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                name = "primary" if task is primary else "hedge"
                _settle(task, outcome, name)
                if task.exception() is None:
                    outcome.winner = name
                    for other in pending:
                        other.cancel()
                        with contextlib.suppress(BaseException):
                            await other
                        _settle(other, outcome, "hedge" if other is hedge else "primary")
                    return outcome
    except BaseException as exc:
        for task in (primary, hedge):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        outcome.error = exc
    return outcome


def _settle(task: asyncio.Future[Any], outcome: Outcome, name: str) -> None:
    if task.cancelled():
        error: BaseException | None = asyncio.CancelledError()
        value = None
    else:
        error = task.exception()
        value = None if error is not None else task.result()
    if name == "primary":
        outcome.value, outcome.error = value, error
    else:
        outcome.hedge_value, outcome.hedge_error = value, error


async def open_stream_async(
    raw: Any, api: str, started: float, first: float | None, clock: Clock, left: float | None
) -> tuple[Any, Tracker, list[Any]]:
    """Read an async stream up to its first content, with the first-token timer (22) and
    ``left``, the seconds the deadline leaves (``None``: no deadline)."""
    tracker = Tracker(api, clock, started)
    buffered: list[Any] = []
    iterator = tracker.source = raw.__aiter__()  # the stream goes on with it
    try:
        while True:
            limits = []
            if first is not None or left is not None:
                now = clock.monotonic()
                if first is not None:
                    limits.append(started + first - now)
                if left is not None:
                    limits.append(left - (now - started))
            try:
                if not limits:  # no timer to race: no coroutine around the read
                    event = await iterator.__anext__()
                else:
                    event = await race(iterator.__anext__(), max(0.0, min(limits)), clock)
            except StopAsyncIteration:
                _ended(tracker)
                break
            except TimerFired:
                if first is not None and clock.monotonic() >= tracker.started + first - 1e-9:
                    raise tracker.first_token_timeout(first) from None
                raise DeadlineExceeded(
                    "pytest-llm client: the attempt ran into the call's deadline."
                ) from None
            except Exception as exc:
                late = first is not None and clock.monotonic() >= tracker.started + first - 1e-9
                if late and _timed_out(exc):  # the SDK's read timeout tied with our timer
                    raise tracker.first_token_timeout(first or 0.0) from exc
                raise sdk_stream_error(exc, tracker) from exc
            if _took(event, tracker, buffered):
                break
    except BaseException:
        with contextlib.suppress(BaseException):
            await raw.close()
        raise
    return raw, tracker, buffered


def _took(event: Any, tracker: Tracker, buffered: list[Any]) -> bool:
    """Note one event read before the stream is handed over; whether to stop reading
    (the first content came, or the stream is complete)."""
    content = tracker.observe(event)
    buffered.append(event)
    return bool(content or tracker.complete)


def _ended(tracker: Tracker) -> None:
    """The stream ended before its first content: fine only if it was complete."""
    if not tracker.complete:
        raise tracker.incomplete() from None  # called while the end of iteration is handled


def _timed_out(error: BaseException) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        if "Timeout" in type(seen).__name__:
            return True
        seen = seen.__cause__ or seen.__context__
    return False
