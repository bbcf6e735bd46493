"""Request matching: canonical keys, ignored JSON paths, and diffs for misses.

A request matches a recording when method, URL path, query (credentials redacted)
and body agree. JSON bodies are compared canonically (key order irrelevant), after
dropping the ignored paths. The key is a plain string, so a lookup is one dict
access whatever the cassette's size.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from typing import Any

from .._errors import ConfigError
from .._exchange import NOT_JSON
from .._jsonpath import differences, render

__all__ = [
    "DEFAULT_IGNORE",
    "IgnorePaths",
    "json_diff",
    "match_key",
]

DEFAULT_IGNORE: tuple[str, ...] = ("user", "safety_identifier", "prompt_cache_key", "metadata")
"""Fields that change between runs without changing what the model is asked."""

_TOKEN = re.compile(r"\[(\*|-?\d+)\]|\.?([^.\[\]]+)")

Token = str | int


def parse_path(path: str) -> list[Token]:
    """``messages[*].name`` -> ``['messages', '*', 'name']``; ``$.`` prefix allowed."""
    src = path.strip()
    if src.startswith("$"):
        src = src[1:]
    tokens: list[Token] = []
    pos = 0
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if m is None or m.end() == pos:
            raise ConfigError(
                f"ignored JSON path {path!r} is not valid at position {pos}.\n"
                "Fix: use dotted keys and [index] or [*], e.g. 'messages[*].name' or 'metadata.trace_id'."
            )
        idx, key = m.group(1), m.group(2)
        if idx is not None:
            tokens.append("*" if idx == "*" else int(idx))
        else:
            tokens.append(key)
        pos = m.end()
    if not tokens:
        raise ConfigError(f"ignored JSON path {path!r} is empty.")
    return tokens


class IgnorePaths:
    """A set of JSON paths removed from bodies before they are compared."""

    def __init__(self, paths: Iterable[str] = DEFAULT_IGNORE, *, drop_nulls: bool = False) -> None:
        self.sources = tuple(paths)
        self.paths = [parse_path(p) for p in self.sources]
        self.drop_nulls = drop_nulls
        """``null_as_absent``: a key whose value is ``null`` counts as absent."""

    def strip(self, value: Any) -> Any:
        if self.drop_nulls:
            value = _without_nulls(value)
        return _strip(value, self.paths) if self.paths else value

    def __repr__(self) -> str:
        extra = ", drop_nulls=True" if self.drop_nulls else ""
        return f"IgnorePaths({list(self.sources)!r}{extra})"


def _without_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _strip(value: Any, paths: list[list[Token]]) -> Any:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            sub = [p[1:] for p in paths if p[0] == k or p[0] == "*"]
            if any(not s for s in sub):
                continue
            out[k] = _strip(v, sub) if sub else v
        return out
    if isinstance(value, list):
        n = len(value)
        res: list[Any] = []
        for i, v in enumerate(value):
            sub = [p[1:] for p in paths if p[0] == "*" or _index_is(p[0], i, n)]
            if any(not s for s in sub):
                continue
            res.append(_strip(v, sub) if sub else v)
        return res
    return value


def _index_is(token: Token, i: int, n: int) -> bool:
    return isinstance(token, int) and (token if token >= 0 else n + token) == i


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def body_key(body_json: Any, body: bytes, ignore: IgnorePaths) -> str:
    if body_json is not NOT_JSON:
        return "json:" + canonical(ignore.strip(body_json))
    if not body:
        return ""
    return "raw:" + hashlib.sha256(body).hexdigest()


def match_key(
    method: str,
    path: str,
    query: list[tuple[str, str]],
    body_json: Any,
    body: bytes,
    ignore: IgnorePaths,
) -> str:
    q = "&".join(f"{k}={v}" for k, v in sorted(query))
    return f"{method.upper()} {path}?{q}\n{body_key(body_json, body, ignore)}"


# -- diffs ----------------------------------------------------------------------------


def _short(v: Any, limit: int = 60) -> str:
    if isinstance(v, dict):
        s = "{...}" if v else "{}"
    elif isinstance(v, list):
        s = f"[{len(v)} items]"
    else:
        s = repr(v)
    return s if len(s) <= limit else s[: limit - 3] + "..."


def json_diff(recorded: Any, request: Any) -> list[str]:
    """Lines ``path: recorded != request``, one per differing leaf, in document order."""
    out = []
    for d in differences(recorded, request, exact_numbers=True, length_last=True):
        where = render(d.path, root="") or "$"
        if d.what == "length":
            out.append(f"{where}: {d.a} items != {d.b} items")
        elif d.path and isinstance(d.path[-1], int) and d.what != "value":
            continue  # an array's extra items: said by its length line
        elif d.what == "only_a":
            out.append(f"{where}: {_short(d.a)} != <absent>")
        elif d.what == "only_b":
            out.append(f"{where}: <absent> != {_short(d.b)}")
        elif isinstance(d.a, str) and isinstance(d.b, str):
            a, b = _windows(d.a, d.b)
            out.append(f"{where}: {a} != {b}")
        else:
            out.append(f"{where}: {_short(d.a)} != {_short(d.b)}")
    return out


def _windows(a: str, b: str, before: int = 20, width: int = 60) -> tuple[str, str]:
    """Both strings cut around their first difference, so the change is visible."""
    if len(repr(a)) <= width and len(repr(b)) <= width:
        return repr(a), repr(b)
    i = next((k for k, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    start = max(0, i - before)

    def cut(s: str) -> str:
        piece = s[start : start + width]
        text = repr(piece)
        return ("..." if start else "") + text + ("..." if start + width < len(s) else "")

    return cut(a), cut(b)
