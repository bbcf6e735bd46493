"""The cassette file: a YAML document meant to be reviewed in pull requests.

::

    format: pytest-llm-cassette
    version: 2
    meta: {recorded_at, sdk, http, interactions: N}
    interactions:
    - summary:  {text, tool_calls, stop}      # streams only; written, never read
      request:  {method, url, headers, json | text | base64}
      response: {status, headers, json | text | base64 | events, failure?}
      meta:     {model, usage, duration, recorded_at, event_times?}
    end: N          # last: a truncated file lacks it

JSON bodies are stored as structured YAML (a request's keys sorted, so every SDK
version writes the same file), multi-line and long strings as literal blocks, a
streamed body as one line per server-sent event, in flow style, holding the exact
bytes the server sent (``raw``) where the fields alone would not give them back.
What changes on every recording (times, dates, request ids) is left out or kept
under ``meta``, so re-recording the same traffic changes only ``meta`` lines.
Version 1 files (events with their ``t``) are read as well. Reading also accepts
vcrpy / pytest-recording cassettes.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import json
import os
import sys
import tempfile
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .. import _exchange, _sse
from .._errors import CassetteError
from .._flow import NOT_JSON, Exchange, Reply, TransportFailure
from .._sse import SSEEvent
from . import _fields, _load, _vcr
from ._fields import (
    _DROP,
    _body_bytes,
    _body_fields,
    _header_list,
    header_map,
    stream_events,
    stream_fields,
    volatile_header,
)
from ._summary import summarise

__all__ = [
    "FORMAT",
    "READS",
    "VERSION",
    "CassetteFile",
    "Interaction",
    "dump",
    "load",
    "relayout",
    "request_digest",
    "rewrite",
    "wire_digest",
    "write_atomic",
]

FORMAT = "pytest-llm-cassette"
VERSION = 2
READS = (1, 2)
"""The format versions this pytest-llm reads (it writes :data:`VERSION`)."""

_load.stamp_code(sys.modules[__name__], _fields, _sse, _exchange)  # what the caches hold


class _Flow(dict[str, Any]):
    """A mapping written on one line (``{data: ..., event: ...}``): a stream's event."""


class _FlowList(list[Any]):
    """A list written on one line: a stream's event times."""


class _FlowStr(str):
    """A string of an event line: JSON text single-quoted (no escaped ``"``), text with
    line breaks double-quoted (``\\r\\n`` visible), anything else as YAML likes."""

    __slots__ = ()


def _flow_str_representer(dumper: Any, data: str) -> Any:
    style = None
    if "\n" in data or "\r" in data:
        style = '"'
    elif data[:1] in ("{", "["):
        style = "'"
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(data), style=style)


_WIDTH = 1 << 20
"""No wrapping: long strings are literal blocks anyway, and an event stays on one line."""


def _str_representer(dumper: Any, data: str) -> Any:
    if "\n" in data or len(data) > 100:
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", data)


_made_dumper: type[Any] | None = None


def _dumper() -> type[Any]:
    """The writer's YAML dumper, made (and PyYAML imported) on the first write."""
    global _made_dumper
    if _made_dumper is None:
        yaml = _load.pyyaml().yaml
        made: type[Any] = type("_Dumper", (getattr(yaml, "CSafeDumper", yaml.SafeDumper),), {})
        made.add_representer(str, _str_representer)
        made.add_representer(_FlowStr, _flow_str_representer)
        made.add_representer(
            _Flow,
            lambda dumper, data: dumper.represent_mapping(
                "tag:yaml.org,2002:map", data, flow_style=True
            ),
        )
        made.add_representer(
            _FlowList,
            lambda dumper, data: dumper.represent_sequence(
                "tag:yaml.org,2002:seq", data, flow_style=True
            ),
        )
        _made_dumper = made
    return _made_dumper


def __getattr__(name: str) -> Any:
    """``_Loader`` and ``_Dumper``, made (and PyYAML imported) on first use."""
    if name == "_Loader":
        return _load.pyyaml().Loader
    if name == "_Dumper":
        return _dumper()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


HEADER = (
    "# pytest-llm cassette: recorded LLM traffic, replayed offline by pytest-llm.\n"
    "# Review it like code. Credentials were redacted before it was written.\n"
)


class _Source:
    """Where the interactions :func:`_load.scan` read find their sections: the file
    (:class:`_load.File`, read again when a section is first used); for a small
    cassette, the replies its folder's load cache holds (by line)."""

    __slots__ = ("file", "folder", "path", "replies")

    def __init__(self, path: Path, layout: _load.Layout) -> None:
        assert layout.file is not None
        self.path = path
        self.file = layout.file
        self.replies = layout.replies
        self.folder = layout.folder


# what _facts keeps of an interaction read from the file's text, by position (the load
# cache holds these tuples: a change here bumps _load._TAG)
_LINE, _KEYS, _BOUNDS, _METHOD, _URL, _SAMPLE, _TEST, _DIGEST, _IS_JSON, _BODY = range(10)


class Interaction:
    """One recorded request and its response, as stored (``data``) and as used.

    Read from a cassette in pytest-llm's layout, it holds only what a lookup needs
    (method, URL, the request body's bytes, ``sample``, ``meta.test``, the wire digest)
    and where its sections are in the file's bytes: a section is parsed when it is
    asked for (:meth:`get`, :meth:`reply`) and not kept; ``data`` parses them all
    and keeps them (the interaction is then as if built from ``data``).
    """

    __slots__ = ("_bodies", "_data", "_facts", "_reply", "_src", "line")

    def __init__(self, data: dict[str, Any], line: int | None = None) -> None:
        self._data: dict[str, Any] | None = data
        self.line = line
        self._reply: Reply | None = None
        self._bodies: tuple[Any, bytes, Any, bytes | None] | None = None
        """Memo: (request section, its body, response section, its body or None), valid
        while ``data`` holds those very sections; filled from the load cache or on use."""
        self._src: _Source | None = None
        self._facts: tuple[Any, ...] = ()

    @classmethod
    def _read(cls, src: _Source, facts: tuple[Any, ...]) -> Interaction:
        it = cls.__new__(cls)
        it._data, it.line, it._reply, it._bodies = None, facts[_LINE], None, None
        it._src, it._facts = src, facts
        return it

    def __repr__(self) -> str:
        return f"Interaction({self.method} {self.url}, line={self.line})"

    @property
    def data(self) -> dict[str, Any]:
        if self._data is None:
            self._data = {key: self._section(key) for key in self._facts[_KEYS]}
            self._src, self._facts = None, ()
        return self._data

    @data.setter
    def data(self, value: dict[str, Any]) -> None:
        self._data, self._src, self._facts = value, None, ()
        self._reply = self._bodies = None

    def get(self, key: str) -> Any:
        """``data.get(key)``, parsed afresh (and not kept) while it is only in the file."""
        if self._data is not None:
            return self._data.get(key)
        return self._section(key) if key in self._facts[_KEYS] else None

    def _section(self, key: str) -> Any:
        src = self._src
        assert src is not None
        where = f"{src.path}:{self.line}" if self.line else str(src.path)
        try:
            return _load.section(src.file, self._facts[_KEYS], self._facts[_BOUNDS], key)
        except (_load.FileChanged, OSError) as exc:  # read when first used, from the file
            gone = not isinstance(exc, _load.FileChanged)
            raise CassetteError(
                f"cassette {where}: the {key!r} of this interaction cannot be read: the file "
                f"{'cannot be read any more' if gone else 'changed'} since the test opened it "
                f"({exc}); an open cassette reads each section from its file when first used.\n"
                "Fix: do not edit, move or re-record a cassette while a test replays it; "
                "run the test again.",
                path=str(src.path),
                line=self.line,
            ) from None
        except _load.yaml_error() as exc:  # the scan erred
            raise CassetteError(
                f"cassette {where}: the {key!r} of this interaction cannot be read ({exc}).\n"
                "Fix: restore it from version control, or re-record with --llm-record=all.",
                path=str(src.path),
                line=self.line,
            ) from None

    @property
    def request(self) -> dict[str, Any]:
        req: dict[str, Any] = self.get("request") if self._data is None else self._data["request"]
        return req

    @property
    def method(self) -> str:
        if self._data is None:
            return str(self._facts[_METHOD])
        return str(self.request["method"]).upper()

    @property
    def url(self) -> str:
        if self._data is None:
            return str(self._facts[_URL])
        return str(self.request["url"])

    @property
    def sample(self) -> Any:
        """``llm_samples``: the sample that recorded it (``None``: not a sample)."""
        return self._facts[_SAMPLE] if self._data is None else self._data.get("sample")

    @property
    def test(self) -> Any:
        """``meta.test``: the node id of the test that recorded it."""
        if self._data is None:
            return self._facts[_TEST]
        meta = self._data.get("meta")
        return meta.get("test") if isinstance(meta, dict) else None

    def request_json(self) -> Any:
        if self._data is None:
            return json.loads(self._facts[_BODY]) if self._facts[_IS_JSON] else NOT_JSON
        req = self.request
        if "json" in req:
            return req["json"]
        return NOT_JSON

    def request_body(self) -> bytes:
        if self._data is None:
            body: bytes = self._facts[_BODY]
            return body
        req = self.request
        memo = self._bodies
        if memo is not None and memo[0] is req:
            return memo[1]
        body = _body_bytes(req)
        self._bodies = (req, body, None, None)
        return body

    @property
    def wire_digest(self) -> str | None:
        """The digest of the request body as the SDK sent it, from ``meta.request_digest``,
        while the stored body is still the one recorded (a hand edit of the request
        voids it: such a request is matched by its content only)."""
        if self._data is None:
            return self._facts[_DIGEST]  # type: ignore[no-any-return]
        return _wire_digest_of(self._data.get("meta"), self.request_body())

    def reply(self, timing: float | None = None) -> Reply:
        """The response, built once and shared (replies are immutable once built)."""
        if self._reply is None:
            if self._data is None:  # parsed now, from the file's text, and not kept
                src = self._src
                assert src is not None
                kept = src.replies
                if kept is not None and self.line in kept:
                    self._reply = _reply_of(kept[self.line])
                else:
                    resp = self._section("response")
                    meta = self.get("meta") if "events" in resp else None
                    self._reply = _reply_from(resp, None, meta)
                    if kept is not None and self.line is not None:
                        _load.remember(src.folder, kept, self.line, _plain_reply(self._reply))
            else:
                resp = self._data["response"]
                memo = self._bodies
                body = memo[3] if memo is not None and memo[2] is resp else None
                self._reply = _reply_from(resp, body, self._data.get("meta"))
        if timing == self._reply.timing:
            return self._reply
        r = self._reply
        return Reply(r.status, r.headers, r.body, r.events, r.failure, timing)

    @classmethod
    def from_traffic(
        cls,
        exchange: Exchange,
        reply: Reply,
        *,
        url: str,
        headers: dict[str, Any],
        meta: dict[str, Any],
        redact: Callable[[str, str], str] | None = None,
        keep_headers: Collection[str] = (),
        keep_host: bool = False,
    ) -> Interaction:
        """``redact(name, value)`` is applied to the response headers (set-cookie, ...).

        Volatile response headers (:data:`~._fields.VOLATILE_HEADERS`) are left out
        unless named in ``keep_headers`` (``"*"``: all), and a loopback URL's host and
        port are written as ``localhost`` unless ``keep_host``: re-recording the same
        traffic then writes the same file but for ``meta``.
        """
        if not keep_host:
            url = _local_url(url)
        req: dict[str, Any] = {"method": exchange.method.upper(), "url": url, "headers": headers}
        req.update(_body_fields(exchange.body, exchange.header("content-type")))
        keep = frozenset(h.lower() for h in keep_headers)
        resp_headers = [
            (k, v if redact is None else redact(k, v))
            for k, v in reply.headers
            if not volatile_header(k.lower(), reply.status, keep)
        ]
        resp: dict[str, Any] = {
            "status": reply.status,
            "headers": header_map(resp_headers, drop=_DROP),
        }
        if "json" in req:
            stored = _body_bytes({"json": _sorted(req["json"])})
            if stored != exchange.body:
                # the body is stored with sorted keys; the digest of the bytes as sent
                # lets a replay find it without re-serialising each request
                meta = {**meta, "request_digest": request_digest(exchange.body, stored)}
        if reply.events is not None:
            fields, times = stream_fields(reply.events)
            resp.update(fields)
            meta = {**meta, "event_times": times}
        else:
            resp.update(_body_fields(reply.body, reply.header("content-type")))
        if reply.failure is not None:
            resp["failure"] = {"kind": reply.failure.kind, "message": reply.failure.message}
        return cls({"request": req, "response": resp, "meta": meta})


def _wire_digest_of(meta: Any, body: bytes) -> str | None:
    digest = meta.get("request_digest") if isinstance(meta, dict) else None
    if not isinstance(digest, str):
        return None
    wire, _, stored = digest.partition("/")
    return wire if stored == wire_digest(body) else None


def wire_digest(body: bytes) -> str:
    """A request body's digest: 96 bits of its sha256, in hex."""
    return hashlib.sha256(body).hexdigest()[:24]


def request_digest(sent: bytes, stored: bytes) -> str:
    """``meta.request_digest``: the digests of the body as sent and as stored."""
    return f"{wire_digest(sent)}/{wire_digest(stored)}"


def _local_url(url: str) -> str:
    """``http://127.0.0.1:54321/v1/x`` -> ``http://localhost/v1/x``: a loopback port
    changes every run and never takes part in matching (path and query do)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if host != "localhost" and not _loopback_ip(host):
        return url
    return urlunsplit(parts._replace(netloc="localhost"))


def _loopback_ip(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _reply_from(resp: dict[str, Any], body: bytes | None = None, meta: Any = None) -> Reply:
    headers = _header_list(resp.get("headers"))
    failure = None
    if isinstance(resp.get("failure"), dict):
        f = resp["failure"]
        failure = TransportFailure(str(f.get("kind", "read_error")), str(f.get("message", "")))
    if "events" in resp:
        times = meta.get("event_times") if isinstance(meta, dict) else None
        events = stream_events(resp, times)
        return Reply(int(resp["status"]), headers, events=events, failure=failure)
    if body is None:
        body = _body_bytes(resp)
    return Reply(int(resp["status"]), headers, body=body, failure=failure)


def _plain_reply(r: Reply) -> tuple[Any, ...]:
    """A reply as plain values, for the load cache (:func:`_reply_of` reads it back)."""
    events = None
    if r.events is not None:
        events = [(e.data, e.event, e.id, e.retry, e.t, e.raw) for e in r.events]
    failure = None if r.failure is None else (r.failure.kind, r.failure.message)
    return (r.status, tuple(r.headers), r.body, events, failure)


def _reply_of(plain: tuple[Any, ...]) -> Reply:
    status, headers, body, events, failure = plain
    headers = list(headers)  # each reply its own, as when built from the section
    if failure is not None:
        failure = TransportFailure(*failure)
    if events is None:
        return Reply(status, headers, body=body, failure=failure)
    out = []
    for data, event, id_, retry, t, raw in events:
        ev = SSEEvent(data, event, id_, retry, t)
        ev.raw = raw
        out.append(ev)
    return Reply(status, headers, events=out, failure=failure)


# -- the file -------------------------------------------------------------------------


@dataclass
class CassetteFile:
    path: Path
    meta: dict[str, Any] = field(default_factory=dict)
    interactions: list[Interaction] = field(default_factory=list)
    source_format: str = FORMAT
    """``pytest-llm-cassette`` or ``vcrpy`` (read-only: rewritten in our format)."""


def load(
    path: Path, *, redact: bool = True, redactor: Any = None, stat: os.stat_result | None = None
) -> CassetteFile:
    """Read a cassette; every problem is a :class:`CassetteError` naming file and line.

    A vcrpy cassette's credentials are redacted as it is read, by ``redactor`` (a
    :class:`~pytest_llm.cassette.Redactor`; the default rules when ``None``);
    ``redact=False`` keeps them, for ``pytest-llm cassettes check``, which must see
    the file as committed. ``stat``: the file's ``os.stat`` the caller just took
    (:func:`_load.read`).
    """
    try:
        got = _load.read(path, _interaction_lines, _derive_bodies, _facts, _PEEK, stat)
        if isinstance(got, _load.Layout):
            read = _from_layout(path, got)
            if read is not None:
                return read
            got = _load.read_document(path, _interaction_lines)  # it says what is wrong
        doc, lines, bodies = got
    except UnicodeDecodeError as exc:
        raise CassetteError(
            f"cassette {path} is not UTF-8 text ({exc.reason} at byte {exc.start}).\n"
            "Fix: restore it from version control, or delete it and re-record with --llm-record=once.",
            path=str(path),
        ) from None
    except _load.yaml_error() as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        where = f"{path}:{line}" if line else str(path)
        raise CassetteError(
            f"cassette {where} is not valid YAML: {problem}.\n"
            "Fix: restore it from version control (a merge conflict or a truncated copy?), "
            "or delete it and re-record with --llm-record=once.",
            path=str(path),
            line=line,
        ) from None
    if not isinstance(doc, dict) or "interactions" not in doc:
        raise CassetteError(
            f"cassette {path} has no 'interactions' list; it is not a pytest-llm or vcrpy cassette.\n"
            "Fix: point the llm_cassette marker at a cassette file, or delete it and re-record "
            "with --llm-record=once.",
            path=str(path),
        )
    if doc.get("format") == FORMAT:
        with _load.gc_paused() if _load.enabled else contextlib.nullcontext():
            return _load_ours(path, doc, lines, bodies)
    if "format" in doc:
        raise CassetteError(
            f"cassette {path} has format {doc['format']!r}; pytest-llm reads {FORMAT!r} and vcrpy cassettes.",
            path=str(path),
        )
    items = _vcr.read_items(path, doc, lines, redact, redactor)
    out = [Interaction(item, line) for item, line in items]
    return CassetteFile(path, {"converted_from": "vcrpy"}, out, "vcrpy")


def _from_layout(path: Path, layout: _load.Layout) -> CassetteFile | None:
    """A cassette :func:`_load.scan` read, if :func:`_load_ours` would accept it as is;
    else ``None`` (the full reader then reads it, and says what is wrong)."""
    head, n = layout.head, len(layout.items)
    meta = head.get("meta", {})
    if (
        head.get("format") != FORMAT
        or head.get("version") not in READS
        or not isinstance(meta, dict)
        or head.get("end") != n
        or (isinstance(meta.get("interactions"), int) and meta["interactions"] != n)
    ):
        return None
    src = _Source(path, layout)
    read = Interaction._read
    return CassetteFile(path, dict(meta), [read(src, facts) for facts in layout.items], FORMAT)


_json_decode = json.JSONDecoder().raw_decode

_PEEK = {"meta": ("test", "request_digest")}
"""What a lookup needs of an interaction's ``meta``: read from their lines, not parsed."""


def _facts(line: int, keys: tuple[str, ...], bounds: bytes, item: dict[str, Any]) -> Any:
    """What an :class:`Interaction` read from the file's text keeps (see ``_LINE``...),
    from its parsed sections but the response; ``None`` for anything :func:`_load_ours`
    would refuse or that the request body's bytes would not give back exactly."""
    req, meta = item.get("request"), item.get("meta")
    if (
        "response" not in keys
        or not isinstance(req, dict)
        or "method" not in req
        or "url" not in req
    ):
        return None
    try:
        body = _body_bytes(req)
        if "json" in req:
            text = body.decode()
            back, end = _json_decode(text)  # json.loads, less its checks and wrapping
            if end != len(text) or back != req["json"]:
                return None  # e.g. a YAML key that is not a string: keep the parsed request
    except Exception:
        return None
    test = meta.get("test") if isinstance(meta, dict) else None
    return (
        line,
        keys,
        bounds,
        sys.intern(str(req["method"]).upper()),  # one string per method, in the caches too
        str(req["url"]),
        item.get("sample"),
        test,
        _wire_digest_of(meta, body),
        "json" in req,
        body,
    )


def _interaction_lines(text: str) -> list[int]:
    # interactions are the only top-level list; their items start at column 0
    return [i + 1 for i, line in enumerate(text.splitlines()) if line.startswith("- ")]


def _derive_bodies(doc: Any) -> list[tuple[bytes, bytes | None]] | None:
    """Each interaction's request and response body bytes, for the load cache."""
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        return None  # vcrpy cassettes are converted (and redacted) after the parse
    try:
        return [
            (
                _body_bytes(it["request"]),
                None if "events" in it["response"] else _body_bytes(it["response"]),
            )
            for it in doc["interactions"]
        ]
    except Exception:  # malformed: load() says how, from the document itself
        return None


def _load_ours(
    path: Path, doc: dict[str, Any], lines: list[int], bodies: Any = None
) -> CassetteFile:
    version = doc.get("version")
    if version not in READS:
        newer = isinstance(version, int) and version > VERSION
        raise CassetteError(
            f"cassette {path} has format version {version!r}; this pytest-llm reads versions "
            f"{', '.join(map(str, READS))}.\n"
            + (
                "Fix: upgrade pytest-llm (the cassette was written by a newer one)."
                if newer
                else "Fix: re-record it with --llm-record=all."
            ),
            path=str(path),
        )
    items = doc.get("interactions")
    if not isinstance(items, list):
        raise CassetteError(f"cassette {path}: 'interactions' is not a list.", path=str(path))
    meta = doc.get("meta") if isinstance(doc.get("meta"), dict) else {}
    assert isinstance(meta, dict)
    if doc.get("end") != len(items):
        got = "no 'end' marker" if "end" not in doc else f"'end: {doc['end']}'"
        raise CassetteError(
            f"cassette {path} has {got} after its {len(items)} "
            f"interaction{'' if len(items) == 1 else 's'}: it was truncated "
            "(the last interaction may be cut short) or edited by hand.\n"
            "Fix: restore it from version control, or re-record with --llm-record=all.",
            path=str(path),
        )
    expected = meta.get("interactions")
    if isinstance(expected, int) and expected != len(items):
        raise CassetteError(
            f"cassette {path} says it holds {expected} interactions but has {len(items)}: "
            "it was truncated or edited by hand.\n"
            "Fix: restore it from version control, or re-record with --llm-record=all.",
            path=str(path),
        )
    if not (isinstance(bodies, list) and len(bodies) == len(items)):
        bodies = None
    out = []
    for i, item in enumerate(items):
        line = lines[i] if i < len(lines) else None
        _validate_item(path, i, item, line)
        it = Interaction(item, line)
        if bodies is not None:
            req_body, resp_body = bodies[i]
            it._bodies = (item["request"], req_body, item["response"], resp_body)
        out.append(it)
    return CassetteFile(path, dict(meta), out, FORMAT)


def _validate_item(path: Path, i: int, item: Any, line: int | None) -> None:
    where = f"{path}:{line}" if line else str(path)
    problem = None
    if not isinstance(item, dict):
        problem = "is not a mapping"
    elif not isinstance(item.get("request"), dict):
        problem = "has no 'request' mapping"
    elif not isinstance(item.get("response"), dict):
        problem = "has no 'response' mapping"
    elif "method" not in item["request"] or "url" not in item["request"]:
        problem = "has a request without 'method' or 'url'"
    elif not isinstance(item["response"].get("status"), int):
        problem = "has a response without an integer 'status'"
    if problem:
        raise CassetteError(
            f"cassette {where}: interactions[{i}] {problem}.\n"
            "Fix: restore it from version control, or re-record with --llm-record=all.",
            path=str(path),
            line=line,
        )


# -- writing --------------------------------------------------------------------------


def dump(cassette: CassetteFile) -> str:
    meta = dict(cassette.meta)
    meta["interactions"] = len(cassette.interactions)
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "meta": meta,
        "interactions": [_stored(i) for i in cassette.interactions],
        # last on purpose: a file cut anywhere, even inside the last interaction, lacks it
        "end": len(cassette.interactions),
    }
    body: str = _load.pyyaml().yaml.dump(
        doc,
        Dumper=_dumper(),
        sort_keys=False,
        allow_unicode=True,
        width=_WIDTH,
        default_flow_style=False,
    )
    return HEADER + body


def _stored(it: Interaction) -> dict[str, Any]:
    """An interaction as version 2 writes it, whichever version it was read from."""
    data = it.data
    resp = data.get("response")
    events = None
    if isinstance(resp, dict) and "events" in resp:
        events = it.reply().events
    out: dict[str, Any] = {}
    if events is not None:
        summary = summarise(events)
        if summary:
            out["summary"] = summary
    for key, value in data.items():
        if key == "summary":
            continue  # read-only: made afresh from the events above
        if key == "request" and isinstance(value, dict) and "json" in value:
            value = {**value, "json": _sorted(value["json"])}
        elif key == "response" and events is not None:
            assert isinstance(value, dict)
            fields, times = stream_fields(events)
            fields["events"] = [_flow_event(e) for e in fields["events"]]
            value = _with_stream(value, fields)
            meta: dict[str, Any] = dict(data.get("meta") or {})
            meta["event_times"] = _FlowList(times)
            out["response"] = value
            out["meta"] = meta
            continue
        elif key == "meta" and events is not None:
            continue  # written with the response
        out[key] = value
    return out


def _flow_event(entry: dict[str, Any]) -> _Flow:
    return _Flow({k: _FlowStr(v) if isinstance(v, str) else v for k, v in entry.items()})


def _with_stream(resp: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """``resp`` with its stream keys replaced by ``fields``, where ``events`` was."""
    out: dict[str, Any] = {}
    for key, value in resp.items():
        if key == "events":
            out.update(fields)
        elif key != "line_end":
            out[key] = value
    return out


def _sorted(value: Any) -> Any:
    """A JSON value with every object's keys sorted: one order whatever the SDK sent."""
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def relayout(cassette: CassetteFile) -> str:
    """A loaded pytest-llm cassette written in the current layout (:data:`VERSION`),
    changing nothing it holds: the same requests, responses, event bytes, times and
    metadata (no header is dropped, no URL changed). A request body whose keys get
    sorted gains ``meta.request_digest`` of the bytes it had, which were the bytes
    sent (versions before 2 kept the SDK's key order)."""
    for it in cassette.interactions:
        req, meta = it.data.get("request"), it.data.get("meta")
        if (
            isinstance(req, dict)
            and "json" in req
            and isinstance(meta, dict)
            and "request_digest" not in meta
        ):
            body = _body_bytes(req)
            stored = _body_bytes({"json": _sorted(req["json"])})
            if body != stored:
                meta["request_digest"] = request_digest(body, stored)
    return dump(cassette)


def rewrite(path: Path) -> bool:
    """:func:`relayout` a pytest-llm cassette in place; whether the file changed."""
    old = path.read_text(encoding="utf-8")
    cassette = load(path, redact=False)
    if cassette.source_format != FORMAT:
        raise CassetteError(
            f"cassette {path} is a {cassette.source_format} cassette; rewrite reads pytest-llm "
            "cassettes only.\nFix: convert it with pytest-llm cassettes convert.",
            path=str(path),
        )
    new = relayout(cassette)
    if new == old:
        return False
    mode = path.stat().st_mode & 0o7777
    write_atomic(path, new)
    os.chmod(path, mode)
    return True


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so readers see the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
