"""The guard for tests without a cassette: no surprise calls to a paid LLM API.

``llm_guard = llm-hosts`` (default) fails a request to a known LLM provider from a
test that has no cassette; ``all`` fails any request that is not loopback; ``off``
lets everything through. Tests with a cassette are governed by the cassette instead.
This module installs it for the session; the decision (:mod:`pytest_llm._host_guard`)
loads with the first name lookup or connection.

Loaded at every pytest start-up: PYTEST_DONT_REWRITE (see :mod:`pytest_llm.plugin`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import pytest

from ._settings import GUARD_MODES
from .transport._socket import guarded

if TYPE_CHECKING:
    from ._errors import ConfigError

__all__ = ["GUARD_MODES", "guard_error_key", "guard_session"]


def _built_on_first_use(
    mode: str, hosts: Iterable[str], on_block: Callable[[], None]
) -> Callable[[str, object], None]:
    """The session's :class:`~pytest_llm._host_guard.Guard`, built (and its module
    loaded) on the first name lookup or connection it is asked about."""
    built: list[Callable[[str, object], None]] = []

    def guard(host: str, port: object) -> None:
        if not built:
            from ._host_guard import Guard

            built.append(Guard(mode, hosts, where=None, on_block=on_block))
        built[0](host, port)

    return guard


def guard_session(
    config: pytest.Config, *, allow_network: bool, on_block: Callable[[], None]
) -> contextlib.ExitStack:
    """The guard for the whole session; closing the stack lifts it.

    "A test that uses the plugin", for the guard, is every test of a session where
    ``llm_guard`` is not ``off``: its job is to catch the test that forgot its
    cassette. It costs no fixture and no hook per test: the socket is patched once for
    the session, and the test is named from ``PYTEST_CURRENT_TEST`` when it blocks.
    A cassette lifts it for its test. ``llm_guard = off`` patches nothing at all.
    """
    stack = contextlib.ExitStack()
    mode = str(config.getoption("llm_guard") or config.getini("llm_guard") or "llm-hosts")
    guard = None
    if allow_network:
        from ._flow import router  # only then: the guard alone needs no router

        stack.enter_context(router.allow_network())
    elif mode not in GUARD_MODES:
        from ._errors import ConfigError

        config.stash[guard_error_key] = ConfigError(
            f"ini option llm_guard={mode!r} is not a guard mode.\n"
            f"Fix: use one of {', '.join(GUARD_MODES)}."
        )
    elif mode != "off":
        guard = _built_on_first_use(mode, config.getini("llm_hosts"), on_block)
    # always set, None included: a session run inside another (pytester) has its own say
    stack.enter_context(guarded(guard))
    return stack


guard_error_key: pytest.StashKey[ConfigError] = pytest.StashKey()
"""An unusable ``llm_guard`` value: every test errors with it, as a fixture would."""
