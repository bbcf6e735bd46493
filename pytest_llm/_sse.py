"""Server-sent events: an incremental parser and an encoder.

A cassette stores a streamed response as one entry per event, so a replay hands the
SDK the same events with the same boundaries it saw live. The parser also keeps each
event's exact wire bytes (``SSEEvent.raw``: its comments, field order, line endings
and blank lines), so a replay sends the very bytes that were recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "EOLS",
    "SSEEvent",
    "SSEParser",
    "canonical_event",
    "encode_event",
    "parse_events",
    "sent_fields",
]

EOLS = ("\n", "\r\n", "\r")
"""The line endings an event stream may use."""


@dataclass(slots=True)
class SSEEvent:
    """One event of a ``text/event-stream`` body.

    ``t`` is the time the event arrived, in seconds after the request was sent.
    ``raw`` is the event's exact wire bytes when known (parsed from a live stream or
    read from a cassette): the encoder sends them instead of re-encoding the fields.
    It is not an ``__init__`` argument, so ``dataclasses.replace`` (which faults use
    to change an event) drops it and the changed event is encoded from its fields.
    """

    data: str
    event: str | None = None
    id: str | None = None
    retry: int | None = None
    t: float = 0.0
    raw: bytes | None = field(default=None, init=False, repr=False, compare=False)


def sent_fields(ev: SSEEvent) -> list[tuple[str, str | int]]:
    """The fields besides ``data`` that the event sends, in the order they are sent:
    ``event``, ``id``, ``retry`` (those that are not ``None``)."""
    fields = (("event", ev.event), ("id", ev.id), ("retry", ev.retry))
    return [(name, value) for name, value in fields if value is not None]


def canonical_event(ev: SSEEvent, eol: str = "\n") -> bytes:
    """The event encoded from its fields: ``event``, ``id``, ``retry``, then one
    ``data:`` line per line of data, each line ending with ``eol``, then a blank line."""
    lines = [f"{name}: {value}" for name, value in sent_fields(ev)]
    lines.extend(f"data: {part}" for part in ev.data.split("\n"))
    return (eol.join(lines) + eol + eol).encode()


def encode_event(ev: SSEEvent) -> bytes:
    """The wire form of one event, ending with its blank line: the recorded bytes
    when the event has them, else :func:`canonical_event`."""
    raw = ev.raw
    return raw if raw is not None else canonical_event(ev)


class SSEParser:
    """Feed bytes as they arrive; get back the events completed so far.

    Follows the WHATWG rules the SDKs follow: ``\\r\\n``, ``\\r`` and ``\\n`` end a
    line, a blank line ends an event, ``:`` starts a comment, one space after the
    colon is dropped, several ``data`` lines join with ``\\n``.

    Every byte consumed belongs to an event's ``raw``: the lines of the event itself,
    the comments and extra blank lines before it, and its closing blank line. Bytes
    after the last event (a trailing comment) are added to that event's ``raw`` by
    :meth:`flush`; a stream with no event at all gives one event with empty ``data``
    whose ``raw`` holds them (it dispatches nothing when replayed).
    """

    def __init__(self) -> None:
        self._buf = b""
        self._raw = bytearray()
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None
        self._retry: int | None = None
        self._dirty = False
        self._last: SSEEvent | None = None

    def feed(self, chunk: bytes, t: float = 0.0) -> list[SSEEvent]:
        self._buf += chunk
        out: list[SSEEvent] = []
        while True:
            idx = _line_end(self._buf)
            if idx is None:
                break
            end, nxt = idx
            line = self._buf[:end].decode("utf-8", errors="replace")
            self._raw += self._buf[:nxt]
            self._buf = self._buf[nxt:]
            ev = self._line(line, t)
            if ev is not None:
                out.append(ev)
        return out

    def flush(self, t: float = 0.0) -> list[SSEEvent]:
        """Events left when the stream ends without a final blank line."""
        out: list[SSEEvent] = []
        if self._buf:
            buf = self._buf
            self._raw += buf
            self._buf = b""
            if buf.endswith(b"\r"):
                buf = buf[:-1]  # a line end after all (no \n can follow any more)
            ev = self._line(buf.decode("utf-8", errors="replace"), t)
            if ev is not None:
                out.append(ev)
        ev = self._line("", t)
        if ev is not None:
            out.append(ev)
        if self._raw:
            rest = bytes(self._raw)
            self._raw.clear()
            if self._last is not None:
                self._last.raw = (self._last.raw or b"") + rest
            else:
                ev = SSEEvent(data="", t=t)
                ev.raw = rest
                out.append(ev)
                self._last = ev
        return out

    def _line(self, line: str, t: float) -> SSEEvent | None:
        if line == "":
            if not self._dirty:
                return None
            ev = SSEEvent(
                data="\n".join(self._data), event=self._event, id=self._id, retry=self._retry, t=t
            )
            ev.raw = bytes(self._raw)
            self._raw.clear()
            self._last = ev
            self._data, self._event, self._id, self._retry, self._dirty = (
                [],
                None,
                None,
                None,
                False,
            )
            return ev
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            self._id = value
        elif name == "retry" and value.isdigit():
            self._retry = int(value)
        else:
            return None
        self._dirty = True
        return None


def parse_events(body: bytes, t: float = 0.0) -> list[SSEEvent]:
    """Every event of a whole ``text/event-stream`` body."""
    parser = SSEParser()
    return parser.feed(body, t) + parser.flush(t)


def _line_end(buf: bytes) -> tuple[int, int] | None:
    n, r = buf.find(b"\n"), buf.find(b"\r")
    if r == -1 or (n != -1 and n < r):
        return None if n == -1 else (n, n + 1)
    if r + 1 == len(buf):
        return None  # a \r\n may be split across chunks
    return (r, r + 2) if buf[r + 1 : r + 2] == b"\n" else (r, r + 1)
