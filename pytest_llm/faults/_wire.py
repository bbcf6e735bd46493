"""Faults on the wire: the transport fails, the reply is slow, the stream stalls or ends badly."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any, ClassVar

from .._flow import Exchange, Next, Outcome, Part, Reply, TransportFailure
from .._sse import SSEEvent
from . import _provider_shapes, _shapes
from ._base import Context, Fault, scripted_reply
from ._errors import FaultNotApplicable
from ._malformed import parses_as_json

__all__ = [
    "CORRUPTIONS",
    "ConnectError",
    "ConnectionReset",
    "CorruptEvent",
    "ReadTimeout",
    "Slow",
    "Stall",
    "StreamError",
    "TruncatedStream",
]

_DEFAULT_MESSAGE = "The server had an error while processing your request. Sorry about that!"


# -- answering alone: the transport fails ---------------------------------------------


@dataclass(frozen=True, repr=False)
class ReadTimeout(Fault):
    """No answer at all: the client waits its whole read timeout, then times out."""

    kind: ClassVar[str] = "read_timeout"

    def apply(self, exchange: Exchange, nxt: Next, ctx: Context) -> Outcome:
        # An endless wait: the adapter cuts it at the client's read timeout, on the clock.
        return TransportFailure("read_timeout", "timed out", delay=math.inf)


@dataclass(frozen=True, repr=False)
class ConnectError(Fault):
    """The connection is refused before anything is sent."""

    kind: ClassVar[str] = "connect_error"

    def apply(self, exchange: Exchange, nxt: Next, ctx: Context) -> Outcome:
        return TransportFailure("connect_error", "[Errno 111] Connection refused")


@dataclass(frozen=True, repr=False)
class ConnectionReset(Fault):
    """The peer resets the connection: before the response, or after N chunks or N bytes of it."""

    kind: ClassVar[str] = "connection_reset"
    after_chunks: int | None = None
    after_bytes: int | None = None

    def __post_init__(self) -> None:
        self._index("after_chunks", optional=True)
        self._index("after_bytes", optional=True, unit="bytes")
        if self.after_chunks is not None and self.after_bytes is not None:
            raise self._bad(
                "give after_chunks or after_bytes, not both.",
                f"pass ConnectionReset(after_chunks={self.after_chunks}) or "
                f"ConnectionReset(after_bytes={self.after_bytes}).",
            )

    def apply(self, exchange: Exchange, nxt: Next, ctx: Context) -> Outcome:
        failure = TransportFailure("read_error", "[Errno 104] Connection reset by peer")
        if self.after_chunks is None and self.after_bytes is None:
            return failure
        reply = self._reply(exchange, nxt)
        parts = list(reply.parts())
        if self.after_chunks is not None:
            if self.after_chunks >= len(parts):
                raise self._past_end(
                    exchange, "after_chunks", self.after_chunks, len(parts), "chunk"
                )
            kept = parts[: self.after_chunks]
        else:
            assert self.after_bytes is not None
            total = sum(len(p.data) for p in parts)
            if self.after_bytes >= total:
                raise self._past_end(exchange, "after_bytes", self.after_bytes, total, "byte")
            kept, left = [], self.after_bytes
            for p in parts:
                if left <= 0:
                    break
                kept.append(Part(p.delay, p.data[:left]))
                left -= len(p.data)
        return scripted_reply(reply, kept, failure)


# -- changing the real reply: timing --------------------------------------------------


@dataclass(frozen=True, repr=False)
class Slow(Fault):
    """The reply starts (status line and headers) only after ``seconds``."""

    kind: ClassVar[str] = "slow"
    seconds: float = 30

    def __post_init__(self) -> None:
        self._seconds("seconds", allow_inf=True)

    def apply(self, exchange: Exchange, nxt: Next, ctx: Context) -> Outcome:
        reply = self._reply(exchange, nxt)
        return dataclasses.replace(reply, delay=reply.delay + self.seconds)


@dataclass(frozen=True, repr=False)
class Stall(Fault):
    """The stream stops after chunk ``after_chunk`` for ``seconds``, then goes on."""

    kind: ClassVar[str] = "stall"
    after_chunk: int
    seconds: float = 30

    def __post_init__(self) -> None:
        self._index("after_chunk")
        self._seconds("seconds", allow_inf=True)

    def apply(self, exchange: Exchange, nxt: Next, ctx: Context) -> Outcome:
        reply = self._reply(exchange, nxt)
        parts = list(reply.parts())
        if self.after_chunk >= len(parts):
            raise self._past_end(exchange, "after_chunk", self.after_chunk, len(parts), "chunk")
        k = self.after_chunk
        parts[k] = Part(parts[k].delay + self.seconds, parts[k].data)
        return scripted_reply(reply, parts, reply.failure)


# -- changing the real reply: the stream ends badly ------------------------------------


@dataclass(frozen=True, repr=False)
class _CutStream(Fault):
    """A stream cut after ``after_chunk`` chunks (default: all the content, before the ending)."""

    stream_only: ClassVar[bool] = True
    after_chunk: int | None = None

    def __post_init__(self) -> None:
        self._index("after_chunk", optional=True)

    def _kept(self, exchange: Exchange, nxt: Next) -> tuple[Reply, list[SSEEvent]]:
        """The rest of the chain's reply and the events before the cut."""
        reply = self._reply(exchange, nxt)
        events = reply.events or []
        end = _shapes.content_end(reply)
        if end is None:
            end = len(events)
        cut = self.after_chunk
        if cut is None:
            return reply, events[:end]
        if cut > end:
            raise FaultNotApplicable(
                f"{self!r} cannot apply to {exchange.method} {exchange.url}: after_chunk="
                f"{cut} is past the end of the content; the stream has {end} chunks before "
                f"its ending (valid: after_chunk=0..{end}).\n"
                f"Fix: pass after_chunk={end} or less, or leave it out to cut just the ending."
            )
        return reply, events[:cut]


@dataclass(frozen=True, repr=False)
class TruncatedStream(_CutStream):
    """The stream ends cleanly but early: no ``[DONE]``, no finish_reason, no ``response.completed``."""

    kind: ClassVar[str] = "truncated_stream"
    after_chunk: int | None = None
    """Keep this many chunks (default: every chunk of content, none of the ending)."""

    def apply(self, exchange: Exchange, nxt: Next, ctx: Context) -> Outcome:
        reply, events = self._kept(exchange, nxt)
        kept = _shapes.replaced(reply, events=events, failure=None)
        return _provider_shapes.strip_ending(kept)


@dataclass(frozen=True, repr=False)
class StreamError(_CutStream):
    """An error event inside a 200 stream, after chunk ``after_chunk``; the stream ends there.

    OpenAI: an ``{"error": ...}`` chunk (chat) or an ``error`` event (Responses);
    Anthropic: ``event: error`` with its error object; Gemini: an ``{"error": ...}``
    chunk with code and status. With the default message each says it in its own words.
    """

    kind: ClassVar[str] = "stream_error"
    after_chunk: int | None = None
    """Chunks sent before the error (default: all the content, before the ending)."""
    message: str = _DEFAULT_MESSAGE
    type: str = "server_error"
    """OpenAI's error type; Anthropic gets its own name for it (``api_error``,
    ``overloaded_error``...), Gemini the matching code and status (``INTERNAL``,
    ``UNAVAILABLE``...)."""
    code: str | None = None

    def apply(self, exchange: Exchange, nxt: Next, ctx: Context) -> Outcome:
        reply, events = self._kept(exchange, nxt)
        t = events[-1].t if events else 0.0
        shape = _shapes.shape_of(reply)
        if shape in (_provider_shapes.MESSAGES_STREAM, _provider_shapes.GEMINI_STREAM):
            kept = _provider_shapes.strip_ending(_shapes.replaced(reply, events=events))
            default = self.message == _DEFAULT_MESSAGE and self.type == "server_error"
            error = _provider_shapes.stream_error(
                reply, kept.events or [], self.message, self.type, default
            )
            return _shapes.replaced(reply, events=[*(kept.events or []), error], failure=None)
        if shape == _shapes.RESPONSES_STREAM:
            seqs = [
                d.get("sequence_number")
                for d in _shapes.load_events(_shapes.replaced(reply, events=events))
                if isinstance(d, dict)
            ]
            seq = max([s for s in seqs if isinstance(s, int)], default=-1) + 1
            doc: dict[str, Any] = {
                "type": "error",
                "code": self.code or self.type,
                "message": self.message,
                "param": None,
                "sequence_number": seq,
            }
            event = SSEEvent(data=json.dumps(doc, separators=(",", ":")), event="error", t=t)
        else:
            doc = {
                "error": {
                    "message": self.message,
                    "type": self.type,
                    "param": None,
                    "code": self.code,
                }
            }
            event = SSEEvent(data=json.dumps(doc, separators=(",", ":")), t=t)
        return _shapes.replaced(reply, events=[*events, event], failure=None)


CORRUPTIONS = ("not_json", "not_event")
"""What :class:`CorruptEvent` puts in the stream: a ``data:`` line that is not JSON, or
a line that is not an SSE field at all."""


@dataclass(frozen=True, repr=False)
class CorruptEvent(Fault):
    """A corrupt line in a 200 stream, after chunk ``after_chunk``; the stream goes on.

    ``not_json``: an event whose ``data:`` is not JSON (the next event's data cut in
    half, as a proxy that splits a line sends it; with its ``event:`` name on
    Anthropic's stream): every provider's SDK fails to decode it. ``not_event``: the
    next event's JSON on a line of its own without ``data:``, which a conforming SSE
    parser ignores (the SDKs do) and a hand-written one may not. ``text`` replaces the
    corrupt payload.
    """

    kind: ClassVar[str] = "corrupt_event"
    stream_only: ClassVar[bool] = True
    after_chunk: int = 1
    variant: str = "not_json"
    text: str | None = None

    def __post_init__(self) -> None:
        self._index("after_chunk")
        self._choice("variant", CORRUPTIONS)
        if self.text is not None and (not isinstance(self.text, str) or "\n" in self.text):
            raise self._bad(
                f"text is one line of text, got {self.text!r}.",
                "pass a str without line breaks, e.g. text='{\"choices\": [' .",
            )
        if self.variant == "not_json" and self.text is not None and parses_as_json(self.text):
            raise self._bad(
                f"text {self.text!r} is valid JSON, so the event would not be corrupt.",
                "pass text that does not parse, e.g. text='{\"choices\": ['.",
            )

    def apply(self, exchange: Exchange, nxt: Next, ctx: Context) -> Outcome:
        reply = self._reply(exchange, nxt)
        events = list(reply.events or [])
        if self.after_chunk >= len(events):
            raise self._past_end(exchange, "after_chunk", self.after_chunk, len(events), "chunk")
        model = events[self.after_chunk]
        t = events[self.after_chunk - 1].t if self.after_chunk else model.t
        if self.variant == "not_json":
            payload = self.text if self.text is not None else _cut_json(model.data)
            lines = ([f"event: {model.event}"] if model.event else []) + [f"data: {payload}"]
            data = payload
        else:
            payload = self.text if self.text is not None else model.data.replace("\n", " ")
            if payload.startswith(("data:", "event:", "id:", "retry:", ":")) or not payload:
                raise self._bad(
                    f"text {payload!r} is an SSE field or comment, not a corrupt line.",
                    "pass text that does not start with data:, event:, id:, retry: or ':'.",
                )
            lines = [payload]
            data = ""
        corrupt = SSEEvent(data=data, t=t)
        corrupt.raw = ("\n".join(lines) + "\n\n").encode()
        out = [*events[: self.after_chunk], corrupt, *events[self.after_chunk :]]
        return _shapes.replaced(reply, events=out, failure=reply.failure)


def _cut_json(data: str) -> str:
    """The first half of an event's data: not JSON any more (``{"id":"chat``)."""
    cut = data[: max(1, len(data) // 2)]
    return cut if not parses_as_json(cut) else cut + "{"
