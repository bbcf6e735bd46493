"""The SDKs' own waits, captured on a :class:`~pytest_llm.VirtualClock`.

The provider SDKs retry by themselves and really sleep between tries. Patching
``time.sleep`` for the whole process would also fake the waits of pytest, xdist and
every library in the test. Instead, while a virtual clock is installed, a few names
*in the SDK modules' namespaces only* are swapped for stand-ins; which names, per
SDK, is :attr:`pytest_llm._providers.Provider.clock`:

* the Stainless SDKs (``openai``, ``anthropic``) sleep with ``time.sleep`` /
  ``anyio.sleep`` in ``_base_client`` and ``_resource``: their ``time``, ``anyio``
  and ``random`` become stand-ins whose ``sleep`` goes to the clock, whose ``time()``
  reads it (``Retry-After`` given as an HTTP date) and whose ``random()`` draws the
  retry jitter from the clock's seeded generator; every other attribute is the real
  module's;
* ``google-genai`` retries with tenacity: the retryers a client built
  (``BaseApiClient._retry`` / ``_async_retry``) are read through a class-level
  stand-in that hands out a copy sleeping on the clock, the retryers built per
  request go through a stand-in ``tenacity`` in ``google.genai._api_client``, and
  ``tenacity.wait``'s ``random`` draws the jitter from the clock's generator.

The openai SDK is imported (if installed) when the clock is installed; anthropic and
google-genai are captured if already imported, else at their first request through
pytest-llm's flow (:func:`catch_up`, called by the transport patches), before they can
retry.
Uninstalling puts the real names back. What is not where it was is warned about
once (:mod:`pytest_llm._canary`).

Between two cassette tests that hand the transports' patches over (:func:`pytest_llm.
transport._patch.hand_over`), the stand-ins stay, dormant: with no clock they pass every
call to the real module (a hook's sleep between the two really sleeps), and the next
clock installed takes them over instead of swapping the names again. Where the hand-over
ends (:func:`pytest_llm.transport._patch.hand_over` ``False``, the session's end), or
the stand-ins are no longer where they were put, the real names go back as before.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import threading
import types
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from ._canary import has_name, warn
from ._providers import OPENAI, PROVIDERS, Provider

if TYPE_CHECKING:
    from ._clock import VirtualClock

__all__ = ["SDK_MODULES", "capture_sdk", "catch_up"]

SDK_MODULES = tuple(s.module for p in PROVIDERS for s in p.clock)
"""The modules whose names are swapped (for the SDKs that are imported)."""
_LOST = "the SDK's retry sleeps are real again and not recorded on the virtual clock"
_ABSENT = object()


class _StandIn:
    """A module look-alike: some attributes redirected, the rest from the real module;
    with no clock (``None``: dormant between two tests), the real module's own."""

    def __init__(self, real: Any, clock: VirtualClock | None) -> None:
        self._real = real
        self._clock = clock

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def __repr__(self) -> str:
        return f"<{self._real!r} with waits on {self._clock!r}>"


class _Time(_StandIn):
    def sleep(self, seconds: float) -> None:
        clock = self._clock
        if clock is None:
            self._real.sleep(seconds)
        else:
            clock.sleep(seconds)

    def time(self) -> float:
        clock = self._clock
        return self._real.time() if clock is None else clock.time()


class _Anyio(_StandIn):
    async def sleep(self, delay: float) -> None:
        clock = self._clock
        if clock is None:
            await self._real.sleep(delay)
        else:
            await clock.asleep(delay)


class _Random(_StandIn):
    def random(self) -> float:
        clock = self._clock
        return self._real.random() if clock is None else clock.jitter.random()

    def uniform(self, a: float, b: float) -> float:
        clock = self._clock
        return self._real.uniform(a, b) if clock is None else clock.jitter.uniform(a, b)


class _Draw(_StandIn):
    """``from random import random`` in the SDK: the clock's draw (dormant: the real one)."""

    def __call__(self) -> float:
        clock = self._clock
        return self._real() if clock is None else clock.jitter.random()


class _Tenacity(_StandIn):
    """``tenacity`` as ``google.genai._api_client`` sees it: retryers built through it
    sleep on whichever clock is capturing when they sleep (real time after)."""

    def Retrying(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("sleep", _tenacity_sleep)
        return self._real.Retrying(*args, **kwargs)

    def AsyncRetrying(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("sleep", _tenacity_asleep)
        return self._real.AsyncRetrying(*args, **kwargs)


class _Retryer:
    """Class-level stand-in for a tenacity retryer an SDK client keeps as an instance
    attribute: reads hand out a copy that sleeps on the capturing clock."""

    def __init__(self, attr: str) -> None:
        self.attr = attr

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self
        try:
            real = obj.__dict__[self.attr]
        except KeyError:
            raise AttributeError(self.attr) from None
        import tenacity

        sleep = _tenacity_asleep if isinstance(real, tenacity.AsyncRetrying) else _tenacity_sleep
        return real.copy(sleep=sleep)

    def __set__(self, obj: Any, value: Any) -> None:
        obj.__dict__[self.attr] = value

    def __repr__(self) -> str:
        return f"<{self.attr} with waits on the virtual clock>"


# -- the clocks capturing now ---------------------------------------------------------

_lock = threading.RLock()
_captures: list[_Capture] = []
"""Every capture in force, innermost last."""


def _clock_now() -> VirtualClock | None:
    with _lock:
        return _captures[-1].clock if _captures else None


def _tenacity_sleep(seconds: float) -> None:
    clock = _clock_now()
    if clock is not None:
        clock.sleep(seconds)
        return
    import tenacity.nap

    tenacity.nap.sleep(seconds)


async def _tenacity_asleep(seconds: float) -> None:
    clock = _clock_now()
    if clock is not None:
        await clock.asleep(seconds)
        return
    from tenacity.asyncio import _portable_async_sleep

    await _portable_async_sleep(seconds)


_STAND_INS: dict[str, type[_StandIn]] = {"time": _Time, "anyio": _Anyio, "tenacity": _Tenacity}
"""The stand-in for each module name swapped (``random``: see :func:`_stand_in`)."""


def _stand_in(name: str, real: Any, clock: VirtualClock | None) -> Any:
    cls = _STAND_INS.get(name)
    if cls is not None:
        return cls(real, clock)
    if name == "random":
        if isinstance(real, types.ModuleType | _StandIn) and not isinstance(real, _Draw):
            return _Random(real, clock)
        return _Draw(real, clock)  # ``from random import random``
    raise AssertionError(name)


class _Capture:
    """The swaps made for one installed clock; SDKs imported later join at
    :func:`catch_up`."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock: VirtualClock | None = clock
        self.saved: list[tuple[Any, str, Any]] = []
        self.put: list[tuple[Mapping[str, Any], str, Any]] = []
        """(the owner's namespace, name, what this capture put there)."""
        self.holders: list[_StandIn] = []
        """The stand-ins that wait on :attr:`clock`."""
        self.done: set[str] = set()
        """Names of the providers captured."""

    def take(self, provider: Provider) -> None:
        self.done.add(provider.name)
        for swap in provider.clock:
            module = sys.modules.get(swap.module)
            if module is None:
                try:
                    module = importlib.import_module(swap.module)
                except ImportError:  # an SDK version without this module
                    warn(f"module {swap.module}", _LOST, provider)
                    continue
            namespace = module.__dict__
            for name in swap.names:
                if "." in name:  # Class.attr: an instance attribute, read through the class
                    self._swap_attr(provider, module, name)
                    continue
                real = namespace.get(name, _ABSENT)
                if real is _ABSENT:
                    warn(f"{module.__name__}.{name}", _LOST, provider)
                    continue
                self.saved.append((module, name, real))
                cls = _STAND_INS.get(name)  # most names: no call to _stand_in
                stand_in = cls(real, self.clock) if cls else _stand_in(name, real, self.clock)
                setattr(module, name, stand_in)
                self.put.append((namespace, name, stand_in))
                if isinstance(stand_in, _StandIn):
                    self.holders.append(stand_in)

    def _swap_attr(self, provider: Provider, module: types.ModuleType, name: str) -> None:
        owner_name, _, attr = name.rpartition(".")
        owner = module.__dict__.get(owner_name)
        if not isinstance(owner, type) or not has_name(module, name):
            warn(f"{module.__name__}.{name}", _LOST, provider)
            return
        self.saved.append((owner, attr, owner.__dict__.get(attr, _ABSENT)))
        retryer = _Retryer(attr)
        setattr(owner, attr, retryer)
        self.put.append((owner.__dict__, attr, retryer))

    def restore(self) -> None:
        for owner, name, real in reversed(self.saved):
            if real is _ABSENT:
                delattr(owner, name)
            else:
                setattr(owner, name, real)
        self.saved.clear()
        self.put.clear()
        self.holders.clear()

    def point(self, clock: VirtualClock | None) -> None:
        """Its stand-ins' waits to ``clock`` (``None``: to the real modules)."""
        self.clock = clock
        for stand_in in self.holders:
            stand_in._clock = clock

    def in_place(self) -> bool:
        """Whether every stand-in is still where this capture put it."""
        for namespace, name, it in self.put:  # noqa: SIM110 - no generator per test
            if namespace.get(name) is not it:
                return False
        return True

    def release(self) -> None:
        """Stop capturing: out of the clocks in force, the real names back; or, the last
        capture out while the transports' patches are handed over to the next test,
        its stand-ins left dormant for that test's clock (:func:`capture_sdk`)."""
        global _dormant
        with _lock:
            if self in _captures:
                _captures.remove(self)
            if not _captures and _dormant is None:
                patch = sys.modules.get("pytest_llm.transport._patch")  # not loaded: none
                if patch is not None and patch.holding():  # in place: checked when taken
                    self.point(None)
                    _dormant = self
                    return
            self.restore()


_dormant: _Capture | None = None
"""The last capture's stand-ins, kept between two tests for the next clock."""


def lift() -> None:
    """The real names back where stand-ins were left dormant and nobody took them (the
    hand-over ended: :func:`pytest_llm.transport._patch.hand_over`, the session's end)."""
    global _dormant
    with _lock:
        dormant, _dormant = _dormant, None
        if dormant is not None:
            dormant.restore()


EAGER = (OPENAI,)
"""SDKs imported (when installed) as a clock is installed, so they are captured even
before their first request; the others, heavy to import (anthropic takes seconds),
are captured when already imported, else at their first request (:func:`catch_up`)."""


def capture_sdk(clock: VirtualClock) -> Callable[[], None]:
    """Send the SDKs' waits to ``clock``; returns the function that undoes it."""
    global _dormant
    modules = sys.modules
    for provider in EAGER:
        if provider.sdk not in modules and provider.installed():
            with contextlib.suppress(ImportError):
                importlib.import_module(provider.sdk)
    with _lock:
        capture = _dormant
        if capture is not None:
            _dormant = None
            if not _captures and capture.in_place():  # taken over: pointed at ``clock``
                capture.point(clock)
            else:
                capture.restore()
                capture = None
        if capture is None:
            capture = _Capture(clock)
        done = capture.done
        for provider in PROVIDERS:
            if provider.sdk in modules and provider.name not in done:  # imported
                capture.take(provider)
        _captures.append(capture)
    return capture.release


def catch_up() -> None:
    """Capture SDKs imported since the clocks in force were installed (cheap when none)."""
    if not _captures:
        return
    with _lock:
        for capture in _captures:
            for provider in PROVIDERS:
                if provider.name not in capture.done and provider.sdk in sys.modules:
                    capture.take(provider)
