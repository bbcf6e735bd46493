"""A JSON-path diff between two JSON values, exact or partial, as assertion lines.

JSON equality is stricter than Python's: ``true`` is not ``1``, so booleans are
compared by type first; ``1`` and ``1.0`` are the same number. The walk and the path
syntax are :mod:`pytest_llm._jsonpath`'s, shared with the cassette-miss diffs.
"""

from __future__ import annotations

from typing import Any

from .._jsonpath import differences, kind_of, render
from ._base import show_json

__all__ = ["json_diff", "json_equal"]


def _items(count: int) -> str:
    return f"{count} item" if count == 1 else f"{count} items"


def json_diff(actual: Any, expected: Any, *, partial: bool = False) -> list[str]:
    """Every difference as ``$.path: ...``; ``partial`` ignores keys absent from ``expected``."""
    out = []
    for d in differences(expected, actual, partial=partial):
        here = render(d.path)
        item = bool(d.path) and isinstance(d.path[-1], int)
        if d.what == "length":
            out.append(f"{here}: got {_items(d.b)}, expected {d.a}")
        elif d.what == "only_a":
            what = "missing item" if item else "missing"
            out.append(f"{here}: {what} (expected {show_json(d.a)})")
        elif d.what == "only_b":
            what = "unexpected item" if item else "unexpected key"
            out.append(f"{here}: {what} (got {show_json(d.b)})")
        elif kind_of(d.a) != kind_of(d.b):
            out.append(
                f"{here}: got {show_json(d.b)} ({kind_of(d.b)}), "
                f"expected {show_json(d.a)} ({kind_of(d.a)})"
            )
        else:
            out.append(f"{here}: got {show_json(d.b)}, expected {show_json(d.a)}")
    return out


def json_equal(actual: Any, expected: Any, *, partial: bool = False) -> bool:
    return not json_diff(actual, expected, partial=partial)
