"""Lazy package facades (PEP 562): public names load from their module on first use.

Importing a package then costs next to nothing: every pytest start-up imports
``pytest_llm`` (the plugin lives in it), and a run that never uses a part should not pay
for it. Loaded at every pytest start-up: PYTEST_DONT_REWRITE (see :mod:`pytest_llm.plugin`).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

__all__ = ["lazy_facade", "not_rewritten"]


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


def not_rewritten(package: str, modules: Iterable[str]) -> None:
    """Let Python import ``modules`` of ``package`` itself, not pytest's assertion rewriter.

    pytest rewrites every module of a plugin's package: it reads it, parses it into
    Python AST objects and compiles those, with no bytecode cache when bytecode is not
    written, about twice the cost of Python's own compile. The modules named here load
    at every pytest start-up and have no asserts (they say PYTEST_DONT_REWRITE, which
    the rewriter reads only after parsing). Each is marked "not for rewriting" in the
    rewriter's cache of that decision, a private name of pytest's (``tests/test_startup.py``
    checks that it still works); without it nothing changes. pytest clears the cache when
    more modules are marked for rewriting: then what is not loaded yet is rewritten again.
    """
    for finder in sys.meta_path:
        cache = getattr(finder, "_marked_for_rewrite_cache", None)
        if isinstance(cache, dict):
            cache.update(dict.fromkeys((package + m for m in modules), False))
