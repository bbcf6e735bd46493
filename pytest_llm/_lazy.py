"""Lazy package facades (PEP 562): public names load from their module on first use.

Importing a package then costs next to nothing: every pytest start-up imports
``pytest_llm`` (the plugin lives in it), and a run that never uses a part should not pay
for it. Loaded at every pytest start-up: PYTEST_DONT_REWRITE (see :mod:`pytest_llm.plugin`).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Collection, Mapping
from typing import Any

__all__ = ["lazy_facade"]


def lazy_facade(
    package: str, where: Mapping[str, str], *, hidden: Collection[str] = ()
) -> tuple[list[str], Callable[[str], Any], Callable[[], list[str]]]:
    """``__all__``, ``__getattr__`` and ``__dir__`` for ``package``: ``where`` maps each
    name to its module (relative, like ``"._kinds"``); ``hidden`` names load like the
    others but stay out of ``__all__`` (helpers)."""
    public = frozenset(where)

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(sys.modules[package], name, value)  # later look-ups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted(public)

    names = sorted(public.difference(hidden)) if hidden else sorted(public)
    return names, __getattr__, __dir__
