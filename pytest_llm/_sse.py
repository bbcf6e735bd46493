"""Server-sent events: an incremental parser and an encoder.

A cassette stores a streamed response as one entry per event, so a replay hands the
SDK the same events with the same boundaries it saw live.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SSEEvent", "SSEParser", "encode_event"]


@dataclass(slots=True)
class SSEEvent:
    """One event of a ``text/event-stream`` body.

    ``t`` is the time the event arrived, in seconds after the request was sent.
    """

    data: str
    event: str | None = None
    id: str | None = None
    retry: int | None = None
    t: float = 0.0


def encode_event(ev: SSEEvent) -> bytes:
    """The wire form of one event, ending with its blank line."""
    lines: list[str] = []
    if ev.event is not None:
        lines.append(f"event: {ev.event}")
    if ev.id is not None:
        lines.append(f"id: {ev.id}")
    if ev.retry is not None:
        lines.append(f"retry: {ev.retry}")
    lines.extend(f"data: {part}" for part in ev.data.split("\n"))
    return ("\n".join(lines) + "\n\n").encode()


class SSEParser:
    """Feed bytes as they arrive; get back the events completed so far.

    Follows the WHATWG rules the SDKs follow: ``\\r\\n``, ``\\r`` and ``\\n`` end a
    line, a blank line ends an event, ``:`` starts a comment, one space after the
    colon is dropped, several ``data`` lines join with ``\\n``.
    """

    def __init__(self) -> None:
        self._buf = b""
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None
        self._retry: int | None = None
        self._dirty = False

    def feed(self, chunk: bytes, t: float = 0.0) -> list[SSEEvent]:
        self._buf += chunk
        out: list[SSEEvent] = []
        while True:
            idx = _line_end(self._buf)
            if idx is None:
                break
            end, nxt = idx
            line = self._buf[:end].decode("utf-8", errors="replace")
            self._buf = self._buf[nxt:]
            ev = self._line(line, t)
            if ev is not None:
                out.append(ev)
        return out

    def flush(self, t: float = 0.0) -> list[SSEEvent]:
        """Events left when the stream ends without a final blank line."""
        out: list[SSEEvent] = []
        if self._buf:
            ev = self._line(self._buf.decode("utf-8", errors="replace"), t)
            self._buf = b""
            if ev is not None:
                out.append(ev)
        ev = self._line("", t)
        if ev is not None:
            out.append(ev)
        return out

    def _line(self, line: str, t: float) -> SSEEvent | None:
        if line == "":
            if not self._dirty:
                return None
            ev = SSEEvent(
                data="\n".join(self._data), event=self._event, id=self._id, retry=self._retry, t=t
            )
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
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._event = value
        elif field == "id":
            self._id = value
        elif field == "retry" and value.isdigit():
            self._retry = int(value)
        else:
            return None
        self._dirty = True
        return None


def _line_end(buf: bytes) -> tuple[int, int] | None:
    n, r = buf.find(b"\n"), buf.find(b"\r")
    if r == -1 or (n != -1 and n < r):
        return None if n == -1 else (n, n + 1)
    if r + 1 == len(buf):
        return None  # a \r\n may be split across chunks
    return (r, r + 2) if buf[r + 1 : r + 2] == b"\n" else (r, r + 1)
