"""Time, injected. The only module that reads or sleeps on real time.

Everything time-aware in pytest-llm takes a :class:`Clock`. :class:`SystemClock`
is the real one; the virtual clock used by the ``llm_clock`` fixture implements the
same protocol, so backoffs, stalls and replayed stream timing cost no wall time.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import time
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "SystemClock", "system_clock"]


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


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> _dt.datetime:
        return _dt.datetime.now(_dt.UTC)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    async def asleep(self, seconds: float) -> None:
        if seconds > 0:
            try:
                import anyio
            except ImportError:  # pragma: no cover - anyio ships with the openai SDK
                await asyncio.sleep(seconds)
            else:
                await anyio.sleep(seconds)

    def __repr__(self) -> str:
        return "SystemClock()"


system_clock = SystemClock()
