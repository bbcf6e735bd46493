"""Reading vcrpy / pytest-recording cassettes into pytest-llm's shape.

Both vcrpy layouts for httpx are read, and the ``parsed_body`` layout that custom
serializers (``vcr.register_serializer``, e.g. pydantic-ai's) write: the JSON body as
structured YAML instead of a string. Credentials are redacted as they are read
(``redact=False`` keeps them, for ``pytest-llm cassettes check``).
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

from .._capture import decompress
from .._errors import CassetteError
from ._fields import _DROP, NOISY_REQUEST_HEADERS, _body_fields, _event_data, header_map

__all__ = ["read_items"]


def read_items(
    path: Path, doc: dict[str, Any], lines: list[int], redact: bool, redactor: Any = None
) -> list[tuple[dict[str, Any], int | None]]:
    """Each interaction of a vcrpy document in pytest-llm's shape, with its line."""
    out = []
    for i, item in enumerate(doc.get("interactions") or []):
        line = lines[i] if i < len(lines) else None
        _check_layout(path, i, item, line)
        try:
            out.append((_from_vcrpy(item, redact, redactor), line))
        except (KeyError, TypeError, ValueError, OSError, zlib.error) as exc:
            where = f"{path}:{line}" if line else str(path)
            raise CassetteError(
                f"vcrpy cassette {where}: interactions[{i}] cannot be read ({type(exc).__name__}: {exc}).\n"
                "Fix: re-record it with pytest-llm (--llm-record=all).",
                path=str(path),
                line=line,
            ) from None
    return out


_KNOWN = {
    "request": {"method", "uri", "headers", "body", "parsed_body"},
    "response": {
        "status",
        "headers",
        "body",
        "parsed_body",
        "status_code",
        "http_version",
        "content",
        "url",
    },
}
_BODIES = {"body", "parsed_body", "content"}


def _check_layout(path: Path, i: int, item: Any, line: int | None) -> None:
    """Refuse a section whose body is kept under a name we do not know.

    A custom serializer may store the body anywhere; read as vcrpy's layout it would
    replay an empty body without a word. Better to say so.
    """
    if not isinstance(item, dict):
        return  # read_items says what is wrong with it
    for section, known in _KNOWN.items():
        data = item.get(section)
        if not isinstance(data, dict) or _BODIES & set(data):
            continue
        unknown = sorted(str(k) for k in data if k not in known)
        if not unknown:
            continue  # no body at all: an empty one
        where = f"{path}:{line}" if line else str(path)
        raise CassetteError(
            f"vcrpy cassette {where}: interactions[{i}].{section} has no body but "
            f"{', '.join(repr(k) for k in unknown)}: it was written by a custom vcrpy "
            "serializer (vcr.register_serializer), whose layout pytest-llm cannot read "
            "(it reads vcrpy's 'body' and the 'parsed_body' of JSON-body serializers).\n"
            "Fix: load it with that serializer's deserialize() and save it with vcrpy's "
            "default serializer (vcr.serializers.yamlserializer), then convert it: "
            "pytest-llm cassettes convert PATH; or re-record it with --llm-record=all.",
            path=str(path),
            line=line,
        )


def _parsed_body(section: dict[str, Any]) -> bytes | None:
    """A ``parsed_body`` (JSON body kept as structured data) as the bytes it stands for."""
    if "parsed_body" not in section or section["parsed_body"] is None:
        return None
    return json.dumps(section["parsed_body"], ensure_ascii=False).encode()


def _vcr_headers(h: Any) -> list[tuple[str, str]]:
    out = []
    for k, v in (h or {}).items():
        for item in v if isinstance(v, list) else [v]:
            out.append((str(k), str(item)))
    return out


def _vcr_body(body: Any) -> bytes:
    if isinstance(body, dict):
        body = body.get("string", b"")
    if body is None:
        return b""
    return body if isinstance(body, bytes) else str(body).encode()


def _from_vcrpy(item: dict[str, Any], redact: bool = True, redactor: Any = None) -> dict[str, Any]:
    """One vcrpy interaction in our shape; credentials redacted, noise dropped.

    Handles both vcrpy layouts for httpx: ``status: {code, message}`` with
    ``body: {string}`` (vcrpy >= 6), and ``status_code`` with already-decoded
    ``content`` (older vcrpy).
    """
    from ._redact import Redactor

    red = (redactor or Redactor()) if redact else Redactor(headers=frozenset())
    rq, rs = item["request"], item["response"]
    req_headers = _vcr_headers(rq.get("headers"))
    req: dict[str, Any] = {
        "method": str(rq["method"]).upper(),
        "url": red.url(str(rq["uri"])) if redact else str(rq["uri"]),
        "headers": {
            k: red.header_value(k, v) if isinstance(v, str) else [red.header_value(k, x) for x in v]
            for k, v in header_map(req_headers).items()
            if not redact or (k not in NOISY_REQUEST_HEADERS and not k.startswith("x-stainless-"))
        },
    }
    ctype = next((v for k, v in req_headers if k.lower() == "content-type"), None)
    parsed = _parsed_body(rq)
    if parsed is not None:
        req.update(_body_fields(parsed, "application/json"))
    else:
        req.update(_body_fields(_vcr_body(rq.get("body")), ctype))
    if "status_code" in rs:  # older vcrpy: content is stored decoded
        status = int(rs["status_code"])
        headers = [
            (k, v) for k, v in _vcr_headers(rs.get("headers")) if k.lower() != "content-encoding"
        ]
        body = _vcr_body(rs.get("content"))
    else:
        status = rs["status"]["code"] if isinstance(rs.get("status"), dict) else int(rs["status"])
        parsed = _parsed_body(rs)
        if parsed is not None:  # stored decoded, whatever content-encoding says
            body = parsed
            headers = [
                (k, v)
                for k, v in _vcr_headers(rs.get("headers"))
                if k.lower() != "content-encoding"
            ]
        else:
            body, headers = decompress(_vcr_body(rs.get("body")), _vcr_headers(rs.get("headers")))
    if redact:
        headers = [(k, red.header_value(k, v)) for k, v in headers]
    resp: dict[str, Any] = {"status": int(status), "headers": header_map(headers, drop=_DROP)}
    rctype = next((v for k, v in headers if k.lower() == "content-type"), "")
    if "text/event-stream" in rctype.lower():
        from .._sse import SSEParser

        parser = SSEParser()
        resp["events"] = [_event_data(e) for e in parser.feed(body) + parser.flush()]
    else:
        resp.update(_body_fields(body, rctype))
    return {"request": req, "response": resp, "meta": {}}
