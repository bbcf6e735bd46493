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
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from ._clock import Clock, system_clock
from ._errors import NetworkBlocked
from ._sse import SSEEvent, encode_event

__all__ = [
    "NOT_JSON",
    "Exchange",
    "Forward",
    "Handler",
    "Outcome",
    "Part",
    "Reply",
    "Router",
    "TransportFailure",
    "router",
]


class _NotJSON:
    def __repr__(self) -> str:
        return "NOT_JSON"


NOT_JSON: Any = _NotJSON()


@dataclass(eq=False)
class Exchange:
    """A request, independent of the HTTP library that carried it."""

    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    library: str = ""
    """Which adapter saw it: ``httpx``, ``httpx2``, ``server``; for error messages."""

    @cached_property
    def _split(self) -> tuple[str, list[tuple[str, str]]]:
        parts = urlsplit(self.url)
        return parts.path or "/", parse_qsl(parts.query, keep_blank_values=True)

    @property
    def path(self) -> str:
        return self._split[0]

    @property
    def query(self) -> list[tuple[str, str]]:
        return self._split[1]

    @cached_property
    def json(self) -> Any:
        """The body parsed as JSON, or :data:`NOT_JSON`."""
        if not self.body:
            return NOT_JSON
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return NOT_JSON

    def header(self, name: str) -> str | None:
        low = name.lower()
        for k, v in self.headers:
            if k.lower() == low:
                return v
        return None

    def __repr__(self) -> str:
        return f"<Exchange {self.method} {self.url}>"


@dataclass(slots=True)
class Part:
    """A piece of a response body, sent after waiting ``delay`` seconds."""

    delay: float
    data: bytes


@dataclass(slots=True)
class TransportFailure:
    """The transport fails instead of (or in the middle of) answering.

    ``kind`` is one of ``connect_error``, ``connect_timeout``, ``read_timeout``,
    ``read_error`` (connection reset), ``remote_protocol``; each adapter raises its
    library's exception of that name.
    """

    kind: str
    message: str
    delay: float = 0.0

    KINDS = frozenset(
        {"connect_error", "connect_timeout", "read_timeout", "read_error", "remote_protocol"}
    )


@dataclass(slots=True)
class Reply:
    """A response, independent of the HTTP library that will carry it.

    A streamed reply has ``events`` (with their arrival times) instead of ``body``.
    ``failure`` ends the body with a transport error once every part is sent.
    """

    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""
    events: list[SSEEvent] | None = None
    failure: TransportFailure | None = None
    timing: float | None = None
    """Replay recorded event timing scaled by this factor (``None``: no waits)."""
    delay: float = 0.0
    """Seconds before the status line arrives (time to headers)."""

    def parts(self) -> Iterator[Part]:
        """The body as it goes on the wire; a fault handler may override this."""
        if self.events is None:
            if self.body:
                yield Part(0.0, self.body)
            return
        prev = 0.0
        for ev in self.events:
            delay = max(0.0, ev.t - prev) * self.timing if self.timing else 0.0
            prev = ev.t
            yield Part(delay, encode_event(ev))

    def header(self, name: str) -> str | None:
        low = name.lower()
        for k, v in self.headers:
            if k.lower() == low:
                return v
        return None


@dataclass(slots=True)
class Forward:
    """Send the exchange to the real network; ``on_reply`` gets what came back."""

    on_reply: Callable[[Reply], None] | None = None


Outcome = Reply | Forward | TransportFailure
Next = Callable[[Exchange], Outcome]


class Handler(Protocol):
    """A link of the chain. Lower ``order`` runs first (faults 100, cassette 200, fake 300)."""

    order: int

    def handle(self, exchange: Exchange, nxt: Next) -> Outcome: ...


class Router:
    """The chain every adapter consults; empty means pass-through, untouched."""

    def __init__(self) -> None:
        self._handlers: list[Handler] = []
        self._lock = threading.Lock()
        self.clock: Clock = system_clock
        self.network_allowed: int = 0
        """How many active scopes allow the real network (recording, allow-network)."""
        self.host_guard: Callable[[str, Any], None] | None = None
        """Checked on every name lookup and connection (tests without a cassette)."""

    @property
    def active(self) -> bool:
        return bool(self._handlers)

    @contextlib.contextmanager
    def activate(self, handler: Handler, *, eager: bool = True) -> Iterator[Handler]:
        from .transport._patch import install

        install(eager=eager)
        with self._lock:
            self._handlers.append(handler)
            self._handlers.sort(key=lambda h: h.order)
        try:
            yield handler
        finally:
            with self._lock:
                self._handlers.remove(handler)

    @contextlib.contextmanager
    def allow_network(self) -> Iterator[None]:
        self.network_allowed += 1
        try:
            yield
        finally:
            self.network_allowed -= 1

    def dispatch(self, exchange: Exchange) -> Outcome:
        handlers = list(self._handlers)

        def step(i: int) -> Next:
            def nxt(ex: Exchange) -> Outcome:
                if i < len(handlers):
                    return handlers[i].handle(ex, step(i + 1))
                return self._network(ex)

            return nxt

        return step(0)(exchange)

    def _network(self, exchange: Exchange) -> Outcome:
        if self.network_allowed > 0:
            return Forward()
        raise NetworkBlocked(
            f"pytest-llm blocked {exchange.method} {exchange.url}: no cassette, fault or fake "
            "answered it and the real network is off.\n"
            "Fix: record it with --llm-record=once (or =new), or pass --llm-allow-network."
        )


router = Router()
