"""The openai SDK's own waits, captured on a :class:`~pytest_llm.VirtualClock`.

The SDK retries by itself and really sleeps between tries (``time.sleep`` in the
sync client, ``anyio.sleep`` in the async one, both in ``openai._base_client``; the
polling helpers in ``openai._resource`` do the same). Patching ``time.sleep`` for
the whole process would also fake the waits of pytest, xdist and every library in
the test. Instead, while a virtual clock is installed, the names ``time``, ``anyio``
and ``random`` *in those modules' namespaces only* are swapped for small stand-ins
whose ``sleep`` goes to the clock (and ``time()`` reads it, for ``Retry-After``
given as an HTTP date; ``random()`` draws the retry jitter from the clock's seeded
generator); every other attribute is the real module's. Uninstalling puts the real
modules back.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._canary import SDK_NAMES, warn

if TYPE_CHECKING:
    from ._clock import VirtualClock

__all__ = ["SDK_MODULES", "capture_sdk"]

SDK_MODULES = tuple(SDK_NAMES)
"""The modules whose waits are captured (if the openai SDK is installed)."""
_LOST = "the SDK's retry sleeps are real again and not recorded on the virtual clock"


class _StandIn:
    """A module look-alike: some attributes redirected, the rest from the real module."""

    def __init__(self, real: Any, clock: VirtualClock) -> None:
        self._real = real
        self._clock = clock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def __repr__(self) -> str:
        return f"<{self._real!r} with waits on {self._clock!r}>"


class _Time(_StandIn):
    def sleep(self, seconds: float) -> None:
        self._clock.sleep(seconds)

    def time(self) -> float:
        return self._clock.time()


class _Anyio(_StandIn):
    async def sleep(self, delay: float) -> None:
        await self._clock.asleep(delay)


class _Random(_StandIn):
    def random(self) -> float:
        return self._clock.jitter.random()


def _stand_in(name: str, real: Any, clock: VirtualClock) -> Any:
    if name == "time":
        return _Time(real, clock)
    if name == "anyio":
        return _Anyio(real, clock)
    if name == "random":
        if isinstance(real, types.ModuleType | _StandIn):
            return _Random(real, clock)
        return clock.jitter.random  # ``from random import random``
    raise AssertionError(name)


def _load() -> list[types.ModuleType]:
    if "openai" not in sys.modules and importlib.util.find_spec("openai") is None:
        return []
    found = []
    for name in SDK_MODULES:
        try:
            found.append(importlib.import_module(name))
        except ImportError:  # an SDK version without this module
            warn(f"module {name}", _LOST)
    return found


def capture_sdk(clock: VirtualClock) -> Callable[[], None]:
    """Send the SDK's waits to ``clock``; returns the function that undoes it."""
    saved: list[tuple[types.ModuleType, str, Any]] = []
    for module in _load():
        for name in SDK_NAMES[module.__name__]:
            if name not in module.__dict__:
                warn(f"{module.__name__}.{name}", _LOST)
            else:
                real = module.__dict__[name]
                saved.append((module, name, real))
                setattr(module, name, _stand_in(name, real, clock))

    def restore() -> None:
        for module, name, real in reversed(saved):
            setattr(module, name, real)

    return restore
