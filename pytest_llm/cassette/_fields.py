"""How a request or response section of a cassette holds headers and bodies.

Shared by the reader/writer of pytest-llm cassettes (``_format``) and the vcrpy
reader (``_vcr``).
"""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Callable, Collection
from fnmatch import fnmatchcase
from typing import Any

from .._sse import EOLS, SSEEvent, canonical_event, parse_events, sent_fields

_DROP = frozenset({"content-length", "content-encoding", "transfer-encoding", "connection"})

NOISY_REQUEST_HEADERS = frozenset(
    {"content-length", "accept-encoding", "connection", "host", "user-agent", "cookie2"}
)
"""Request headers not stored: they change with the SDK version, not with the request."""


VOLATILE_HEADERS: tuple[str, ...] = (
    "date",
    "x-request-id",
    "request-id",
    "openai-processing-ms",
    "x-envoy-upstream-service-time",
    "cf-ray",
    "set-cookie",
    "server-timing",
    "x-cloud-trace-context",
    "x-ratelimit-remaining-*",
    "x-ratelimit-reset-*",
    "anthropic-ratelimit-*-remaining",
    "anthropic-ratelimit-*-reset",
)
"""Response headers not recorded: they change on every call, not with the answer
(``fnmatch`` patterns). Rate-limit counters are kept on an error response (a 429
is about them). ``keep_headers`` keeps any of them."""


def volatile_header(name: str, status: int, keep: Collection[str] = ()) -> bool:
    """Whether response header ``name`` (lower case) is left out of the recording."""
    if "*" in keep or name in keep:
        return False
    for pattern in VOLATILE_HEADERS:
        if fnmatchcase(name, pattern):
            return status < 400 or "ratelimit" not in pattern
    return False


def header_map(
    headers: list[tuple[str, str]], drop: frozenset[str] = frozenset()
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in sorted(headers, key=lambda kv: kv[0].lower()):
        key = k.lower()
        if key in drop:
            continue
        if key in out:
            prev = out[key]
            out[key] = [*prev, v] if isinstance(prev, list) else [prev, v]
        else:
            out[key] = v
    return out


def _header_list(mapping: Any) -> list[tuple[str, str]]:
    if not isinstance(mapping, dict):
        return []
    out: list[tuple[str, str]] = []
    for k, v in mapping.items():
        for item in v if isinstance(v, list) else [v]:
            out.append((str(k), str(item)))
    return out


def _body_fields(body: bytes, content_type: str | None) -> dict[str, Any]:
    if not body:
        return {}
    ctype = (content_type or "").lower()
    if "json" in ctype or body[:1] in (b"{", b"["):
        try:
            return {"json": json.loads(body)}
        except (ValueError, UnicodeDecodeError):
            pass
    try:
        return {"text": body.decode("utf-8")}
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(body).decode("ascii")}


def _body_bytes(section: dict[str, Any]) -> bytes:
    if "json" in section:
        return _compact(section["json"]).encode()
    if "text" in section:
        return str(section["text"]).encode()
    if "base64" in section:
        return base64.b64decode(section["base64"])
    return b""


_compact: Callable[[Any], str] = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
"""``json.dumps(doc, ensure_ascii=False, separators=(",", ":"))``, without building an
encoder per call (a cassette's load runs it once per interaction)."""


def _data_field(data: str) -> Any:
    """An event's data as stored: parsed when it is JSON that compact re-serialisation
    gives back byte for byte (so a replay sends the same bytes), else the string."""
    if data[:1] in ("{", "["):
        with contextlib.suppress(ValueError):
            doc = json.loads(data)
            if _compact(doc) == data:
                return doc
    return data


LINE_ENDS = {"lf": "\n", "crlf": "\r\n", "cr": "\r"}
"""``response.line_end`` of a stream: how its events end their lines (``lf`` unless said)."""
_LINE_END_NAMES = {v: k for k, v in LINE_ENDS.items()}


def _event_data(ev: SSEEvent, eol: str = "\n", *, t: bool = True) -> dict[str, Any]:
    """One event as a cassette entry: ``t`` (format 1; format 2 keeps the times in the
    interaction's meta), ``event``/``id``/``retry`` when sent, ``data``, and ``raw``:
    the exact wire text, only when it differs from what the fields encode to."""
    out: dict[str, Any] = {"t": ev.t} if t else {}
    out.update(sent_fields(ev))
    out["data"] = _data_field(ev.data)
    raw = ev.raw
    if raw is not None and raw != canonical_event(ev, eol):
        try:
            out["raw"] = raw.decode("utf-8")
        except UnicodeDecodeError:
            out["raw_base64"] = base64.b64encode(raw).decode("ascii")
    return out


def stream_fields(events: list[SSEEvent]) -> tuple[dict[str, Any], list[float]]:
    """A stream's response keys (``line_end`` unless ``lf``, ``events``) and its event times."""
    eol = _stream_eol(events)
    out: dict[str, Any] = {}
    if eol != "\n":
        out["line_end"] = _LINE_END_NAMES[eol]
    out["events"] = [_event_data(ev, eol, t=False) for ev in events]
    return out, [ev.t for ev in events]


def _stream_eol(events: list[SSEEvent]) -> str:
    """The line ending most of the recorded events use."""
    counts = dict.fromkeys(EOLS, 0)
    for ev in events[:50]:
        if ev.raw is None:
            continue
        for eol in EOLS:
            if ev.raw == canonical_event(ev, eol):
                counts[eol] += 1
                break
    return max(EOLS, key=lambda e: (counts[e], e == "\n"))


def stream_events(resp: dict[str, Any], times: Any = None) -> list[SSEEvent]:
    """The events of a stored stream; ``times`` from the interaction's meta (format 2),
    else each entry's ``t`` (format 1)."""
    eol = LINE_ENDS.get(str(resp.get("line_end", "lf")), "\n")
    times = times if isinstance(times, list) else []
    out = []
    for i, entry in enumerate(resp["events"]):
        t = times[i] if i < len(times) else None
        out.append(_event_from(entry, t, eol))
    return out


def _event_from(d: Any, t: float | None = None, eol: str = "\n") -> SSEEvent:
    data = d.get("data", "")
    if not isinstance(data, str):
        data = _compact(data)
    retry = d.get("retry")
    ev = SSEEvent(
        data=data,
        event=d.get("event"),
        id=d.get("id"),
        retry=retry,
        t=float(d.get("t", 0.0) if t is None else t),
    )
    raw: bytes | None = None
    if "raw" in d:
        raw = str(d["raw"]).encode()
    elif "raw_base64" in d:
        with contextlib.suppress(ValueError):
            raw = base64.b64decode(d["raw_base64"])
    if raw is not None:
        # the recorded bytes, as long as they still say what the fields say (a hand
        # edit of the data wins: the event is then encoded from its fields)
        parsed = parse_events(raw)
        if len(parsed) == 1 and _fields_of(parsed[0]) == _fields_of(ev):
            ev.raw = raw
    elif eol != "\n":
        ev.raw = canonical_event(ev, eol)
    return ev


def _fields_of(ev: SSEEvent) -> tuple[str, str | None, str | None, int | None]:
    return ev.data, ev.event, ev.id, ev.retry
