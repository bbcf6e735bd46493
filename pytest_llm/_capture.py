"""The one capture of live traffic: a response as it streams, turned into a :class:`Reply`.

Both ways a recording reaches the real network use it: the httpx/httpx2 adapter
(``transport/_adapter.py``) and the loopback server (``transport/_server.py``). So
both decode a ``content-encoding`` the same way, time the events on the same clock,
and agree on when a stream "closed early".
"""

from __future__ import annotations

import contextlib
import gzip
import zlib
from collections.abc import Callable

from ._clock import current_clock
from ._exchange import Reply, TransportFailure, header_of
from ._sse import SSEEvent, SSEParser

__all__ = ["Capture", "decompress", "is_terminal"]

_TERMINAL_EVENTS = frozenset(
    {"response.completed", "response.failed", "response.incomplete", "error", "message_stop"}
)


def is_terminal(events: list[SSEEvent]) -> bool:
    """Whether the stream had ended as far as the protocol goes ([DONE], completed...)."""
    if not events:
        return False
    last = events[-1]
    return last.data.strip() == "[DONE]" or last.event in _TERMINAL_EVENTS


def decompress(body: bytes, headers: list[tuple[str, str]]) -> tuple[bytes, list[tuple[str, str]]]:
    """The body decoded as its ``content-encoding`` says, and the headers without it.

    gzip, deflate and (with the brotli package) br; a ``ValueError`` for anything else.
    """
    enc = (header_of(headers, "content-encoding") or "").strip().lower()
    if enc in ("gzip", "x-gzip"):
        body = gzip.decompress(body)
    elif enc == "deflate":
        body = zlib.decompress(body)
    elif enc == "br":
        try:
            import brotli  # type: ignore[import-not-found]
        except ImportError:
            raise ValueError(
                "the body is brotli-compressed (content-encoding: br); install the brotli "
                "package to read it"
            ) from None
        body = brotli.decompress(body)
    elif enc not in ("", "identity"):
        raise ValueError(f"content-encoding {enc!r} is not supported")
    return body, [(k, v) for k, v in headers if k.lower() != "content-encoding"]


class Capture:
    """Collects a live response as it streams, then hands it to ``on_reply`` as a Reply.

    ``finish`` once: at the end of the body, with ``error`` when the upstream broke
    off, or with ``closed_early`` when the client stopped reading (a failure only if
    the protocol had not ended the stream already).
    """

    def __init__(
        self,
        status: int,
        headers: list[tuple[str, str]],
        on_reply: Callable[[Reply], None],
        t0: float,
    ) -> None:
        self.status = status
        self.headers = headers
        self.on_reply = on_reply
        self.t0 = t0
        encoding = (header_of(headers, "content-encoding") or "").strip().lower()
        self.encoded = encoding not in ("", "identity")
        ctype = header_of(headers, "content-type") or ""
        self.sse: SSEParser | None = SSEParser() if "text/event-stream" in ctype else None
        self.events: list[SSEEvent] = []
        self.raw: list[bytes] = []
        self.done = False

    def _now(self) -> float:
        return round(current_clock().monotonic() - self.t0, 4)

    def feed(self, chunk: bytes) -> None:
        self.raw.append(chunk)
        if self.sse is not None and not self.encoded:
            self.events.extend(self.sse.feed(chunk, self._now()))

    def finish(self, *, error: BaseException | None = None, closed_early: bool = False) -> None:
        if self.done:
            return
        self.done = True
        raw = b"".join(self.raw)
        if self.encoded:
            # an encoding we cannot undo is kept as it came: the recording shows it
            with contextlib.suppress(ValueError, OSError, zlib.error):
                raw = decompress(raw, self.headers)[0]
        failure = None
        if error is not None:
            failure = TransportFailure("read_error", f"{type(error).__name__}: {error}")
        if self.sse is not None:
            if self.encoded:
                parser = SSEParser()
                events = parser.feed(raw, self._now()) + parser.flush(self._now())
            else:
                events = self.events + self.sse.flush(self._now())
            if closed_early and failure is None and not is_terminal(events):
                failure = TransportFailure("read_error", "the client closed the stream early")
            reply = Reply(self.status, self.headers, events=events, failure=failure)
        else:
            reply = Reply(self.status, self.headers, body=raw, failure=failure)
        self.on_reply(reply)
