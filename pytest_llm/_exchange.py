"""What travels on the request flow, independent of any HTTP library.

An adapter turns a library's request into an :class:`Exchange`; a link of the chain
answers with an :class:`Outcome`: a :class:`Reply`, a :class:`TransportFailure`, or a
:class:`Forward` to the real network. These types import nothing of pytest-llm but
the SSE encoder, so the adapters, the router and every handler can share them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from ._sse import SSEEvent, encode_event

__all__ = [
    "NOT_JSON",
    "Exchange",
    "Forward",
    "Link",
    "Next",
    "Outcome",
    "Part",
    "Reply",
    "TransportFailure",
    "header_of",
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
    served_at: float | None = None
    """When its response body went to the client (clock seconds); ``None``: none did
    (a transport failure, a wait cancelled before the headers, the real network)."""
    closed_at: float | None = None
    """When the client closed that body, read to its end or not; ``None``: still open."""
    read_to_end: bool = False
    """Whether the client read the body to its end (or to the failure that ends it)."""

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
        return header_of(self.headers, name)

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
        return header_of(self.headers, name)


@dataclass(slots=True)
class Forward:
    """Send the exchange to the real network; ``on_reply`` gets what came back."""

    on_reply: Callable[[Reply], None] | None = None


Outcome = Reply | Forward | TransportFailure
Next = Callable[[Exchange], Outcome]


class Link(Protocol):
    """A link of the chain. Lower ``order`` runs first (faults 100, cassette 200, fake 300)."""

    @property
    def order(self) -> int: ...

    def handle(self, exchange: Exchange, nxt: Next) -> Outcome: ...


def header_of(headers: list[tuple[str, str]], name: str) -> str | None:
    """The first value of header ``name`` (any case), or ``None``."""
    low = name.lower()
    for k, v in headers:
        if k.lower() == low:
            return v
    return None
