"""JSON the way models get it wrong: each variant turns valid JSON text into a broken one.

Text variants (``fenced``, ``prose``, ``truncated``) work on any text; the others
need the text to be a JSON object (or array, for ``trailing_comma``) and say so.
Every variant is deterministic: the same input gives the same output.
"""

from __future__ import annotations

import json
from typing import Any

from .._text import did_you_mean

__all__ = ["FIELD_VARIANTS", "VARIANTS", "MalformedInput", "malform"]

VARIANTS = (
    "fenced",
    "prose",
    "trailing_comma",
    "single_quotes",
    "truncated",
    "wrong_types",
    "missing_field",
    "extra_field",
)
FIELD_VARIANTS = frozenset({"wrong_types", "missing_field", "extra_field"})
"""Variants that change one field (``field=`` picks it; default: the first field)."""

PROSE_BEFORE = "Sure! Here is the JSON you asked for:\n\n"
PROSE_AFTER = "\n\nLet me know if you need anything else."
EXTRA_VALUE = "not in the schema"


class MalformedInput(ValueError):
    """The text cannot take this variant (not JSON, no such field); the message says why."""


def malform(text: str, variant: str, *, field: str | None = None, at: float = 0.5) -> str:
    """``text`` broken the way ``variant`` says."""
    out = _malform(text, variant, field, at)
    if variant not in FIELD_VARIANTS and parses_as_json(out):
        raise MalformedInput(
            f"{variant} of {_preview(text)} would still be valid JSON: {_preview(out)}"
        )
    return out


def parses_as_json(text: str) -> bool:
    """Whether ``text`` is valid JSON."""
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _malform(text: str, variant: str, field: str | None, at: float) -> str:
    if variant == "fenced":
        return f"```json\n{text}\n```"
    if variant == "prose":
        return f"{PROSE_BEFORE}{text}{PROSE_AFTER}"
    if variant == "truncated":
        body = text.rstrip()
        if len(body) < 2:
            raise MalformedInput(f"the text {text!r} is too short to truncate")
        return body[: min(max(1, int(len(body) * at)), len(body) - 1)]
    doc = _parse(text, variant)
    if variant == "trailing_comma":
        return _trailing_comma(text, doc)
    if variant == "single_quotes":
        return _single_quoted(doc)
    if not isinstance(doc, dict):
        raise MalformedInput(f"{variant} needs a JSON object, the text is {_json_type(doc)}")
    indent = 2 if "\n" in text.strip() else None
    if variant == "extra_field":
        name = field or "note"
        if name in doc:
            raise MalformedInput(
                f"the object already has a field {name!r}; pick a new name with field="
            )
        return json.dumps({**doc, name: EXTRA_VALUE}, indent=indent, ensure_ascii=False)
    parent, key = _locate(doc, field, variant)
    if variant == "missing_field":
        del parent[key]
    else:
        parent[key] = wrong_type(parent[key])
    return json.dumps(doc, indent=indent, ensure_ascii=False)


def wrong_type(value: Any) -> Any:
    """The value as a model that ignored the schema's type might write it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return ", ".join(v if isinstance(v, str) else json.dumps(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return "null"


def _parse(text: str, variant: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise MalformedInput(
            f"{variant} needs the content to be valid JSON to start from; it is not ({exc}): "
            f"{_preview(text)}"
        ) from None


def _preview(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:57] + "...")


def _json_type(doc: Any) -> str:
    """``doc``'s JSON type with its article: ``an array``, ``a number``."""
    if isinstance(doc, bool):
        return "a boolean"
    kinds = {dict: "an object", list: "an array", str: "a string", type(None): "null"}
    return kinds.get(type(doc), "a number")


def _locate(doc: dict[str, Any], field: str | None, variant: str) -> tuple[dict[str, Any], str]:
    if not doc:
        raise MalformedInput(f"{variant} needs an object with at least one field, got {{}}")
    if field is None:
        return doc, next(iter(doc))
    parent: Any = doc
    names = field.split(".")
    for depth, name in enumerate(names):
        if not isinstance(parent, dict) or name not in parent:
            where = ".".join(names[:depth]) or "the top level"
            keys = sorted(parent) if isinstance(parent, dict) else []
            hint = did_you_mean(name, keys, template=" (did you mean {!r}?)")
            raise MalformedInput(
                f"no field {name!r} at {where}{hint}; fields there: {', '.join(keys) or 'none'}"
            )
        if depth < len(names) - 1:
            parent = parent[name]
    return parent, names[-1]


def _trailing_comma(text: str, doc: Any) -> str:
    if not isinstance(doc, dict | list):
        raise MalformedInput(
            f"trailing_comma needs an object or array, the text is {_json_type(doc)}"
        )
    body = text.rstrip()
    close = len(body) - 1
    inner = body[:close].rstrip()
    return inner + "," + body[len(inner) :] + text[len(body) :]


def _single_quoted(doc: Any) -> str:
    """JSON with every string in single quotes, the way a model trained on Python writes it."""
    if isinstance(doc, dict):
        return "{" + ", ".join(f"{_sq(k)}: {_single_quoted(v)}" for k, v in doc.items()) + "}"
    if isinstance(doc, list):
        return "[" + ", ".join(_single_quoted(v) for v in doc) + "]"
    if isinstance(doc, str):
        return _sq(doc)
    return json.dumps(doc)


def _sq(s: str) -> str:
    inner = json.dumps(s, ensure_ascii=False)[1:-1].replace('\\"', '"').replace("'", "\\'")
    return f"'{inner}'"
