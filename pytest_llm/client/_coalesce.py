"""Single flight: identical concurrent requests share one upstream call.

``flight.do(key, fn)`` (threads) and ``await flight.ado(key, afn)`` (asyncio): the first
caller of a key (the *leader*) runs its function; callers of the same key that arrive
while it runs (*followers*) wait for its outcome instead of calling.

* Followers receive ``copy(result)`` (default :func:`copy.deepcopy`): equal to the
  leader's result but their own object, so a caller mutating its reply, or the client
  attaching per-call info beside it, never touches another caller's. Pass
  ``copy=None`` to hand everyone the same object (only for immutable results).
* A leader's **error** reaches every follower waiting at that moment and is not
  remembered: the key is freed before anyone is woken, so the next call runs afresh.
* A leader that ends **without a verdict** (its task cancelled, a ``BaseException``
  such as ``KeyboardInterrupt``) frees the key and wakes the followers with no result:
  one of them takes over as the new leader and runs its own function; the others
  follow it. Followers never receive ``None`` for a missing result.
* A cancelled follower just stops waiting; the leader and the other followers go on.

Different keys never share anything. The sync and async sides keep separate tables
(a thread and a task with the same key do not merge).
"""

from __future__ import annotations

import asyncio
import copy as _copy
import threading
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, Never, TypeVar

from ..assertions._base import did_you_mean
from ._booking import check_callable
from ._errors import ClientConfigError

__all__ = ["SingleFlight"]

T = TypeVar("T")

_NO_VERDICT = object()
"""The leader ended without a result or an error: a follower takes over."""


class _Call(Generic[T]):
    __slots__ = ("done", "error", "followers", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: Any = _NO_VERDICT
        self.error: BaseException | None = None
        self.followers = 0


class SingleFlight:
    """Coalesces identical concurrent calls by key; see the module docstring."""

    def __init__(
        self, *, copy: Callable[[Any], Any] | None = _copy.deepcopy, **unknown: Never
    ) -> None:
        if unknown:
            name = next(iter(unknown))
            raise ClientConfigError(
                f"SingleFlight() got an unknown option {name!r}{did_you_mean(name, ['copy'])}\n"
                "Fix: SingleFlight() or SingleFlight(copy=None) for immutable results."
            )
        check_callable(
            "SingleFlight",
            "copy",
            copy,
            "leave it out (deep copies), or pass copy=None to share one object.",
        )
        self.copy = copy
        self._lock = threading.Lock()
        self._calls: dict[Hashable, _Call[Any]] = {}
        self._acalls: dict[tuple[int, Hashable], asyncio.Future[Any]] = {}
        self.calls = 0
        """How many times a leader ran its function (for tests and metrics)."""

    def _share(self, value: T) -> T:
        return value if self.copy is None else self.copy(value)

    # -- threads ----------------------------------------------------------------------

    def do(self, key: Hashable, fn: Callable[[], T]) -> T:
        """``fn()``'s result, shared with every concurrent caller of ``key``."""
        return self.do_ex(key, fn)[0]

    def do_ex(self, key: Hashable, fn: Callable[[], T]) -> tuple[T, bool]:
        """``(result, coalesced)``: ``coalesced`` is True for a follower (it made no call)."""
        while True:
            with self._lock:
                call = self._calls.get(key)
                leader = call is None
                if call is None:
                    call = self._calls[key] = _Call()
                    self.calls += 1
                else:
                    call.followers += 1
            if leader:
                return self._lead(key, call, fn), False
            call.done.wait()
            if call.error is not None:
                raise call.error
            if call.value is not _NO_VERDICT:
                return self._share(call.value), True
            # the leader ended without a verdict: the first to get here leads next

    def _lead(self, key: Hashable, call: _Call[T], fn: Callable[[], T]) -> T:
        try:
            value = fn()
        except Exception as exc:
            call.error = exc
            raise
        except BaseException:
            raise  # no verdict: followers take over
        else:
            call.value = value
            return value
        finally:
            with self._lock:
                if self._calls.get(key) is call:
                    del self._calls[key]
            call.done.set()

    # -- asyncio ----------------------------------------------------------------------

    async def ado(self, key: Hashable, afn: Callable[[], Awaitable[T]]) -> T:
        """``await afn()``'s result, shared with every concurrent task awaiting ``key``."""
        return (await self.ado_ex(key, afn))[0]

    async def ado_ex(self, key: Hashable, afn: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """``(result, coalesced)`` for asyncio; see :meth:`do_ex`."""
        loop = asyncio.get_running_loop()
        full = (id(loop), key)
        while True:
            fut = self._acalls.get(full)
            if fut is None:
                fut = loop.create_future()
                self._acalls[full] = fut
                self.calls += 1
                return await self._alead(full, fut, afn), False
            # shield: a cancelled follower must not cancel the shared future
            value = await asyncio.shield(fut)
            if value is not _NO_VERDICT:
                return self._share(value), True

    async def _alead(
        self, full: tuple[int, Hashable], fut: asyncio.Future[Any], afn: Callable[[], Awaitable[T]]
    ) -> T:
        try:
            value = await afn()
        except Exception as exc:
            self._afree(full, fut)
            fut.set_exception(exc)
            # every follower awaits it; make sure an unobserved one does not warn
            fut.exception()
            raise
        except BaseException:
            self._afree(full, fut)
            fut.set_result(_NO_VERDICT)
            raise
        self._afree(full, fut)
        fut.set_result(value)
        return value

    def _afree(self, full: tuple[int, Hashable], fut: asyncio.Future[Any]) -> None:
        if self._acalls.get(full) is fut:
            del self._acalls[full]

    def in_flight(self) -> int:
        """Keys with a leader running right now (0 once everything finished)."""
        with self._lock:
            return len(self._calls) + len(self._acalls)

    def __repr__(self) -> str:
        return f"SingleFlight(in_flight={self.in_flight()}, calls={self.calls})"
