"""The marker look-up of every test: a leaf module (pytest only), loaded at start-up
by the pytest-recording shim and used by the verdicts too. Loaded at every pytest
start-up: PYTEST_DONT_REWRITE (see :mod:`pytest_llm.plugin`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from _pytest.nodes import Node


def closest_marker(item: pytest.Item, name: str) -> pytest.Mark | None:
    """``item.get_closest_marker(name)``, walked as pytest's ``Node.iter_markers_with_node``
    walks it (the item's own markers first, then each parent's) without the generators
    and the chain list it builds: this runs for every test of a session (the shim's
    collection hook, the verdicts' ``llm_verdicts`` per watched test), most of them
    unmarked."""
    node: Node | None = item
    while node is not None:
        for mark in node.own_markers:
            if getattr(mark, "name", None) == name:
                return mark
        node = node.parent
    return None


def markers(item: pytest.Item, name: str) -> list[pytest.Mark]:
    """``list(item.iter_markers(name))``, closest first, by the same walk as
    :func:`closest_marker` (every replayed test's cassette reads its markers)."""
    found: list[pytest.Mark] = []
    node: Node | None = item
    while node is not None:
        for mark in node.own_markers:
            if getattr(mark, "name", None) == name:
                found.append(mark)
        node = node.parent
    return found
