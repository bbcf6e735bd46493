"""Time, injected. The only module that reads or sleeps on real time.

Everything time-aware in pytest-llm takes a :class:`Clock`. :class:`SystemClock`
is the real one; :class:`VirtualClock` (the ``llm_clock`` fixture) implements the
same protocol on virtual time, so backoffs, stalls and replayed stream timing cost
no wall time and every wait is recorded.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import heapq
import itertools
import math
import random
import threading
import time
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ._errors import ReplayInterrupt

if TYPE_CHECKING:
    import asyncio

__all__ = [
    "Clock",
    "FlowClock",
    "SystemClock",
    "VirtualClock",
    "WouldHang",
    "current_clock",
    "flow_clock",
    "set_current_clock",
    "system_clock",
]

DEFAULT_START = _dt.datetime(2026, 1, 1, tzinfo=_dt.UTC)
"""Where a :class:`VirtualClock`'s wall time starts, unless told otherwise."""


@runtime_checkable
class Clock(Protocol):
    """What pytest-llm needs from time."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards."""
        ...

    def now(self) -> _dt.datetime:
        """The current wall-clock time, timezone-aware (UTC)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block for ``seconds``."""
        ...

    async def asleep(self, seconds: float) -> None:
        """Suspend the current task for ``seconds``."""
        ...


class WouldHang(ReplayInterrupt):
    """A wait of infinite length: on real time the application would hang forever.

    A ``BaseException`` like every :class:`ReplayInterrupt`, so an SDK's retry loop
    cannot turn it into one more retried connection error.
    """


def _hang_message(seconds: float) -> str:
    return (
        f"pytest-llm: a wait of {seconds} seconds: the application would hang forever here "
        "(a read timeout or stall fault against a client that has no read timeout).\n"
        "Fix: give the client a timeout, e.g. openai.OpenAI(timeout=30) or "
        "httpx.Client(timeout=30), or give the fault a finite number of seconds."
    )


def _checked(seconds: float, what: str) -> float:
    seconds = float(seconds)
    if math.isnan(seconds) or seconds < 0:
        raise ValueError(f"{what}({seconds!r}): the number of seconds must be 0 or more.")
    if math.isinf(seconds):
        raise WouldHang(_hang_message(seconds))
    return seconds


class SystemClock:
    """The real clock."""

    monotonic = staticmethod(time.monotonic)
    """``time.monotonic`` itself: a reading through this clock runs no Python frame."""

    def now(self) -> _dt.datetime:
        return _dt.datetime.now(_dt.UTC)

    def sleep(self, seconds: float) -> None:
        seconds = _checked(seconds, "sleep")
        if seconds > 0:
            time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        seconds = _checked(seconds, "asleep")
        if seconds > 0:
            try:
                import anyio
            except ImportError:  # pragma: no cover - anyio ships with the openai SDK
                import asyncio

                await asyncio.sleep(seconds)
            else:
                await anyio.sleep(seconds)

    def __repr__(self) -> str:
        return "SystemClock()"


system_clock = SystemClock()

_current: list[Clock] = [system_clock]


def current_clock() -> Clock:
    """The clock every wait of the request flow goes through (virtual under ``llm_clock``)."""
    return _current[0]


class FlowClock:
    """Whatever clock the request flow runs on, read at each use.

    The default clock of everything time-aware in ``pytest_llm.client``: the real clock
    in production, and the test's virtual one while ``llm_clock`` (or an installed
    :class:`VirtualClock`) is active, with no ``clock=`` to pass.
    """

    def monotonic(self) -> float:
        return _current[0].monotonic()

    def now(self) -> _dt.datetime:
        return _current[0].now()

    def sleep(self, seconds: float) -> None:
        _current[0].sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        await _current[0].asleep(seconds)

    async def alarm(self, seconds: float) -> None:
        """A timer (see :meth:`VirtualClock.alarm`); on the real clock, a plain sleep."""
        clock = _current[0]
        ring = getattr(clock, "alarm", None)
        await (ring(seconds) if ring is not None else clock.asleep(seconds))

    def __repr__(self) -> str:
        return f"FlowClock(now: {_current[0]!r})"


flow_clock = FlowClock()


def set_current_clock(clock: Clock) -> Clock:
    """Make ``clock`` the flow's clock; returns the one it replaces."""
    previous, _current[0] = _current[0], clock
    return previous


class _Sleepers:
    """Tasks of one event loop waiting on the virtual clock, earliest deadline first."""

    __slots__ = ("heap", "pumping")

    def __init__(self) -> None:
        self.heap: list[tuple[float, int, asyncio.Future[None]]] = []
        self.pumping = False


class VirtualClock:
    """Deterministic time that records every sleep and never waits.

    ``sleep`` and ``asleep`` return at once, move the clock forward and append the
    duration to :attr:`sleeps` (waits of zero are not recorded). Entered as a context
    manager (or by the ``llm_clock`` fixture) it becomes the clock of pytest-llm's
    request flow and captures the openai SDK's own retry sleeps; see
    ``docs/clock.md`` for exactly what is virtual and what stays real.

    Concurrent async sleeps overlap, as they would on real time: a task that calls
    :meth:`asleep` waits until every other task of its event loop is waiting too,
    then the clock jumps to the earliest deadline. ``asyncio.gather`` of two tasks
    sleeping 5 s each moves the clock by 5 s and records ``[5.0, 5.0]``. Blocking
    :meth:`sleep` calls (from any thread) add up: each moves the clock at once.
    """

    def __init__(self, start: _dt.datetime | None = None, *, seed: int = 0) -> None:
        if start is not None and start.tzinfo is None:
            raise ValueError(
                f"VirtualClock(start={start!r}): the start needs a timezone.\n"
                "Fix: pass e.g. datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)."
            )
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(
                f"VirtualClock(seed={seed!r}): the seed must be an int, got "
                f"{type(seed).__name__}.\nFix: pass e.g. seed=1234."
            )
        self.start = start or DEFAULT_START
        self.seed = seed
        self.sleeps: list[float] = []
        """Every wait, in the order the waits began, in seconds."""
        self._jitter: random.Random | None = None
        self._t = 0.0
        self._lock = threading.RLock()
        self._seq = itertools.count()
        self._loops: weakref.WeakKeyDictionary[Any, _Sleepers] | None = None
        """Each event loop's sleepers, made at the first async wait (every replayed test
        makes a clock; few of them wait in a loop)."""
        self._installed: list[tuple[Clock, Callable[[], None]]] = []

    @property
    def jitter(self) -> random.Random:
        """Randomness for retry jitter on this clock (the openai SDK's, while installed),
        seeded with :attr:`seed`; made at its first draw (most tests never retry)."""
        if self._jitter is None:
            with self._lock:
                if self._jitter is None:
                    self._jitter = random.Random(self.seed)
        return self._jitter

    @jitter.setter
    def jitter(self, generator: random.Random) -> None:
        self._jitter = generator

    # -- reading ---------------------------------------------------------------------

    def monotonic(self) -> float:
        """Virtual seconds since the clock was made (starts at 0.0)."""
        return self._t

    def now(self) -> _dt.datetime:
        return self.start + _dt.timedelta(seconds=self._t)

    def time(self) -> float:
        """Virtual seconds since the Unix epoch, like :func:`time.time`."""
        return self.start.timestamp() + self._t

    # -- waiting ---------------------------------------------------------------------

    def sleep(self, seconds: float) -> None:
        seconds = _checked(seconds, "sleep")
        if seconds > 0:
            self.sleeps.append(seconds)
            self._move(seconds)

    def advance(self, seconds: float) -> None:
        """Move time forward without a recorded sleep, waking async sleepers that are due."""
        self._move(_checked(seconds, "advance"))

    async def asleep(self, seconds: float) -> None:
        await self._wait(seconds, "asleep", record=True)

    async def alarm(self, seconds: float) -> None:
        """Like :meth:`asleep`, for a timer that races something else (a deadline, a
        time-to-first-token): time passes the same way, but the timer is not one of
        the application's waits, so it is not recorded in :attr:`sleeps`."""
        await self._wait(seconds, "alarm", record=False)

    async def _wait(self, seconds: float, what: str, *, record: bool) -> None:
        import asyncio

        seconds = _checked(seconds, what)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None:
            # Not asyncio (trio through anyio): no shared scheduler to wait on, so the
            # sleep moves time at once, like a blocking one, then yields.
            if seconds > 0:
                if record:
                    self.sleeps.append(seconds)
                self._move(seconds)
            import anyio

            await anyio.sleep(0)
            return
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        if record:
            self.sleeps.append(seconds)
        fut: asyncio.Future[None] = loop.create_future()
        with self._lock:
            loops = self._loops
            if loops is None:
                loops = self._loops = weakref.WeakKeyDictionary()
            state = loops.get(loop)
            if state is None:
                state = loops[loop] = _Sleepers()
            heapq.heappush(state.heap, (self._t + seconds, next(self._seq), fut))
            if not state.pumping:
                state.pumping = True
                loop.call_soon(self._pump, loop, state, 0)
        await fut

    def _move(self, seconds: float) -> None:
        with self._lock:
            self._t += seconds
            if self._loops is None:
                return  # no async waiter to wake
            for loop, state in list(self._loops.items()):
                for fut in self._due(state):
                    # A closed loop raises RuntimeError: nobody is waiting there any more.
                    with contextlib.suppress(RuntimeError):
                        loop.call_soon_threadsafe(_wake, fut)

    def _due(self, state: _Sleepers) -> list[asyncio.Future[None]]:
        due = []
        while state.heap and (state.heap[0][2].done() or state.heap[0][0] <= self._t):
            due.append(heapq.heappop(state.heap)[2])
        return due

    def _pump(self, loop: asyncio.AbstractEventLoop, state: _Sleepers, quiet: int) -> None:
        """Runs on the loop; once nothing else is runnable, jumps to the next deadline."""
        ready = getattr(loop, "_ready", None)  # CPython's run queue; other loops: count passes
        if ready is None:
            from ._canary import warn

            warn(
                "asyncio event loop attribute _ready",
                "the virtual clock counts passes of the loop to know it is idle",
            )
        busy = len(ready) > 0 if ready is not None else False
        if busy or quiet < (2 if ready is not None else 16):
            loop.call_soon(self._pump, loop, state, 0 if busy else quiet + 1)
            return
        with self._lock:
            while state.heap and state.heap[0][2].done():
                heapq.heappop(state.heap)
            if state.heap:
                self._t = max(self._t, state.heap[0][0])
            due = self._due(state)
            state.pumping = bool(state.heap)
        for fut in due:
            _wake(fut)
        if state.pumping:
            loop.call_soon(self._pump, loop, state, 0)

    # -- installing ------------------------------------------------------------------

    def install(self) -> VirtualClock:
        """Become the request flow's clock and capture the openai SDK's sleeps; see docs."""
        global _capture_sdk
        capture = _capture_sdk
        if capture is None:  # once: every replayed test installs a clock, and a relative
            # import in a function asks the module's spec for its parent each time
            from ._sdk import capture_sdk

            capture = _capture_sdk = capture_sdk
        restore = capture(self)
        self._installed.append((set_current_clock(self), restore))
        return self

    def uninstall(self) -> None:
        """Undo the last :meth:`install`."""
        if not self._installed:
            raise RuntimeError("VirtualClock.uninstall() without a matching install().")
        previous, restore = self._installed.pop()
        set_current_clock(previous)
        restore()

    def __enter__(self) -> VirtualClock:
        return self.install()

    def __exit__(self, *exc_info: object) -> None:
        self.uninstall()

    def __repr__(self) -> str:
        return (
            f"VirtualClock(now={self.now().isoformat()}, monotonic={self._t:g}, "
            f"sleeps={len(self.sleeps)})"
        )


_capture_sdk: Callable[[VirtualClock], Callable[[], None]] | None = None
""":func:`pytest_llm._sdk.capture_sdk` once :meth:`VirtualClock.install` loaded it."""


def _wake(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
