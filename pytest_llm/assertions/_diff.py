"""A JSON-path diff between two JSON values, exact or partial.

JSON equality is stricter than Python's: ``true`` is not ``1``, so booleans are
compared by type first; ``1`` and ``1.0`` are the same number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ._base import json_path, show_json

__all__ = ["json_diff", "json_equal"]


def _kind(value: object) -> str:
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


def _items(count: int) -> str:
    return f"{count} item" if count == 1 else f"{count} items"


def json_diff(
    actual: Any, expected: Any, *, partial: bool = False, path: tuple[object, ...] = ()
) -> list[str]:
    """Every difference as ``$.path: ...``; ``partial`` ignores keys absent from ``expected``."""
    kind_a, kind_e = _kind(actual), _kind(expected)
    here = json_path(path)
    if kind_a != kind_e:
        return [
            f"{here}: got {show_json(actual)} ({kind_a}), expected {show_json(expected)} ({kind_e})"
        ]
    if kind_a == "object":
        out: list[str] = []
        for key in expected:
            if key not in actual:
                out.append(
                    f"{json_path((*path, key))}: missing (expected {show_json(expected[key])})"
                )
            else:
                out.extend(
                    json_diff(actual[key], expected[key], partial=partial, path=(*path, key))
                )
        if not partial:
            for key in actual:
                if key not in expected:
                    out.append(
                        f"{json_path((*path, key))}: unexpected key (got {show_json(actual[key])})"
                    )
        return out
    if kind_a == "array":
        out = []
        if len(actual) != len(expected):
            out.append(f"{here}: got {_items(len(actual))}, expected {len(expected)}")
        for i, (a, e) in enumerate(zip(actual, expected, strict=False)):
            out.extend(json_diff(a, e, partial=partial, path=(*path, i)))
        for i in range(len(expected), len(actual)):
            out.append(f"{json_path((*path, i))}: unexpected item (got {show_json(actual[i])})")
        for i in range(len(actual), len(expected)):
            out.append(f"{json_path((*path, i))}: missing item (expected {show_json(expected[i])})")
        return out
    if actual != expected:
        return [f"{here}: got {show_json(actual)}, expected {show_json(expected)}"]
    return []


def json_equal(actual: Any, expected: Any, *, partial: bool = False) -> bool:
    return not json_diff(actual, expected, partial=partial)
