"""The one request flow.

Every adapter (httpx and httpx2, sync and async, the loopback server) turns traffic
into an :class:`Exchange` and asks the :data:`router` for an outcome. Handlers
(faults, cassette, fake provider) sit on one chain in a fixed order; each may answer
with a :class:`Reply`, fail the transport with a :class:`TransportFailure`, or pass
the exchange on. At the end of the chain stands the network: a :class:`Forward`
when recording or ``--llm-allow-network`` allows it, else :class:`NetworkBlocked`.
"""

from __future__ import annotations

import contextlib
import operator
import threading
from collections.abc import Iterator

from ._clock import Clock, current_clock, set_current_clock
from ._errors import NetworkBlocked
from ._exchange import (
    NOT_JSON,
    Exchange,
    Forward,
    Link,
    Next,
    Outcome,
    Part,
    Reply,
    TransportFailure,
)
from .transport import _patch

Handler = Link
"""The old name of :class:`~pytest_llm._exchange.Link` (a link of the chain)."""

__all__ = [
    "NOT_JSON",
    "Exchange",
    "Forward",
    "Handler",
    "Link",
    "Next",
    "Outcome",
    "Part",
    "Reply",
    "Router",
    "TransportFailure",
    "router",
]


class Router:
    """The chain every adapter consults; empty means pass-through, untouched."""

    def __init__(self) -> None:
        self._handlers: list[Link] = []
        self._lock = threading.Lock()
        self.network_allowed: int = 0
        """How many active scopes allow the real network (recording, allow-network)."""
        self.log: list[tuple[float, Exchange, Outcome]] | None = None
        """Where every answered request goes, with its start on the clock, while a test
        is watched for verdicts (``_verdicts``); ``None``: nothing kept."""

    @property
    def clock(self) -> Clock:
        """The clock every wait goes through (:func:`pytest_llm._clock.current_clock`)."""
        return current_clock()

    @clock.setter
    def clock(self, clock: Clock) -> None:
        set_current_clock(clock)

    @property
    def active(self) -> bool:
        return bool(self._handlers)

    def activate(self, handler: Link, *, eager: bool = True) -> _Activation:
        """``handler`` on the chain while inside (a ``with`` block); the transports are
        patched meanwhile (the first activation patches, the last one out restores)."""
        return _Activation(self, handler, eager)

    @contextlib.contextmanager
    def allow_network(self) -> Iterator[None]:
        self.network_allowed += 1
        try:
            yield
        finally:
            self.network_allowed -= 1

    def dispatch(self, exchange: Exchange) -> Outcome:
        handlers = tuple(self._handlers)
        log = self.log
        start = current_clock().monotonic() if log is not None else 0.0
        outcome = self._step(handlers, 0)(exchange)
        if log is not None:
            log.append((start, exchange, outcome))
        return outcome

    def _step(self, handlers: tuple[Link, ...], i: int) -> Next:
        """What the ``i``-th handler's ``nxt`` calls: the next handler, else the network.

        A method, not a closure that names itself: that made a reference cycle per
        request, which kept the test's cassette and everything it read alive until the
        garbage collector's next full pass."""

        def nxt(ex: Exchange) -> Outcome:
            if i < len(handlers):
                return handlers[i].handle(ex, self._step(handlers, i + 1))
            return self._network(ex)

        return nxt

    def _network(self, exchange: Exchange) -> Outcome:
        if self.network_allowed > 0:
            return Forward()
        raise NetworkBlocked(
            f"pytest-llm blocked {exchange.method} {exchange.url}: no cassette, fault or fake "
            "answered it and the real network is off.\n"
            # no cassette is active here (a cassette's miss would have stopped it first),
            # so --llm-record alone records nothing
            "Fix: answer it with llm_fake (llm_fake.add(...)), or give the test a cassette "
            "(@pytest.mark.llm_cassette) and record it with --llm-record=once, or pass "
            "--llm-allow-network to let it through unrecorded."
        )


_order = operator.attrgetter("order")


class _Activation:
    """:meth:`Router.activate`'s block: a class, not a generator, as every test with a
    handler enters one (``_patch.scope``'s own two steps, inlined)."""

    __slots__ = ("eager", "handler", "router")

    def __init__(self, router: Router, handler: Link, eager: bool) -> None:
        self.router = router
        self.handler = handler
        self.eager = eager

    def __enter__(self) -> Link:
        router = self.router
        _patch.acquire(router, eager=self.eager)
        try:
            with router._lock:
                router._handlers.append(self.handler)
                router._handlers.sort(key=_order)
        except BaseException:
            _patch.release()
            raise
        return self.handler

    def __exit__(self, *exc: object) -> None:
        router = self.router
        try:
            with router._lock:
                router._handlers.remove(self.handler)
        finally:
            _patch.release()


router = Router()
