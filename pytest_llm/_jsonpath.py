"""JSON paths, said one way: rendering, walking every string, and diffing two documents.

One syntax everywhere a message names a place in a JSON document: ``messages[0].content``
(``$.messages[0].content`` where the root is named), keys that are not plain names in
brackets: ``headers['x y']``. Assertion failures, cassette-miss diffs, the secret scan
and ``pytest-llm cassettes check`` all render paths with :func:`render`, walk strings
with :func:`strings` and compare documents with :func:`differences`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["Difference", "Part", "differences", "kind_of", "render", "strings"]

Part = str | int
_NAME = re.compile(r"[A-Za-z_][\w\-]*\Z")


def render(parts: Iterable[object], root: str = "$") -> str:
    """``$.items[0].price``; odd keys as ``['a b']``; ``root=""`` for ``items[0].price``."""
    out = root
    for part in parts:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        elif isinstance(part, str) and _NAME.match(part):
            out += f".{part}" if out else part
        else:
            key = str(part).replace("\\", "\\\\").replace("'", "\\'")
            out += f"['{key}']"
    return out


def strings(
    data: Any, parts: tuple[Part, ...] = ()
) -> Iterator[tuple[tuple[Part, ...], str, bool]]:
    """Every string in ``data`` (keys too, flagged ``True``), with its path, in order."""
    if isinstance(data, str):
        yield parts, data, False
    elif isinstance(data, bytes):
        yield parts, data.decode("utf-8", "replace"), False
    elif isinstance(data, dict):
        for k, v in data.items():
            key = str(k)
            yield (*parts, key), key, True
            yield from strings(v, (*parts, key))
    elif isinstance(data, list | tuple):
        for i, v in enumerate(data):
            yield from strings(v, (*parts, i))


def kind_of(value: object) -> str:
    """The JSON type of ``value``: null, boolean, number, string, object, array."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, Sequence):
        return "array"
    return type(value).__name__


@dataclass(frozen=True)
class Difference:
    """One place where ``a`` and ``b`` differ.

    ``what``: ``value`` (leaves, or values of different kinds), ``only_a`` / ``only_b``
    (a key or an item one side lacks), ``length`` (arrays of different sizes).
    """

    path: tuple[Part, ...]
    what: Literal["value", "only_a", "only_b", "length"]
    a: Any = None
    b: Any = None


def differences(
    a: Any,
    b: Any,
    *,
    partial: bool = False,
    exact_numbers: bool = False,
    length_last: bool = False,
) -> list[Difference]:
    """Every difference between ``a`` and ``b``, in the order of ``a`` (then ``b``'s extras).

    ``partial``: keys only ``b`` has are no difference. ``exact_numbers``: ``1`` is not
    ``1.0`` (canonical JSON tells them apart); booleans are never numbers. An array's
    ``length`` difference comes before its items' (``length_last``: after).
    """
    out: list[Difference] = []
    _walk(a, b, (), _Rules(partial, exact_numbers, length_last), out)
    return out


@dataclass(frozen=True)
class _Rules:
    partial: bool
    exact: bool
    length_last: bool


def _walk(a: Any, b: Any, path: tuple[Part, ...], rules: _Rules, out: list[Difference]) -> None:
    kind = kind_of(a)
    if kind != kind_of(b):
        out.append(Difference(path, "value", a, b))
    elif kind == "object":
        for key in a:
            if key in b:
                _walk(a[key], b[key], (*path, key), rules, out)
            else:
                out.append(Difference((*path, key), "only_a", a[key]))
        if not rules.partial:
            out.extend(Difference((*path, k), "only_b", None, b[k]) for k in b if k not in a)
    elif kind == "array":
        length = [Difference(path, "length", len(a), len(b))] if len(a) != len(b) else []
        if not rules.length_last:
            out.extend(length)
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            _walk(x, y, (*path, i), rules, out)
        out.extend(Difference((*path, i), "only_a", a[i]) for i in range(len(b), len(a)))
        out.extend(Difference((*path, i), "only_b", None, b[i]) for i in range(len(a), len(b)))
        if rules.length_last:
            out.extend(length)
    elif a != b or (rules.exact and type(a) is not type(b)):
        out.append(Difference(path, "value", a, b))
