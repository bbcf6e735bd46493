"""How a request or response section of a cassette holds headers and bodies.

Shared by the reader/writer of pytest-llm cassettes (``_format``) and the vcrpy
reader (``_vcr``).
"""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

from .._sse import SSEEvent

_DROP = frozenset({"content-length", "content-encoding", "transfer-encoding", "connection"})

NOISY_REQUEST_HEADERS = frozenset(
    {"content-length", "accept-encoding", "connection", "host", "user-agent", "cookie2"}
)
"""Request headers not stored: they change with the SDK version, not with the request."""


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
        return json.dumps(section["json"], ensure_ascii=False, separators=(",", ":")).encode()
    if "text" in section:
        return str(section["text"]).encode()
    if "base64" in section:
        return base64.b64decode(section["base64"])
    return b""


def _event_data(ev: SSEEvent) -> dict[str, Any]:
    out: dict[str, Any] = {"t": ev.t}
    if ev.event is not None:
        out["event"] = ev.event
    if ev.id is not None:
        out["id"] = ev.id
    if ev.retry is not None:
        out["retry"] = ev.retry
    data: Any = ev.data
    if data[:1] in ("{", "["):
        with contextlib.suppress(ValueError):
            data = json.loads(data)
    out["data"] = data
    return out


def _event_from(d: Any) -> SSEEvent:
    data = d.get("data", "")
    if not isinstance(data, str):
        data = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return SSEEvent(
        data=data,
        event=d.get("event"),
        id=d.get("id"),
        retry=d.get("retry"),
        t=float(d.get("t", 0.0)),
    )
