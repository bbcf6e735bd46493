"""The guard for tests without a cassette: no surprise calls to a paid LLM API.

``llm_guard = llm-hosts`` (default) fails a request to a known LLM provider from a
test that has no cassette; ``all`` fails any request that is not loopback; ``off``
lets everything through. Tests with a cassette are governed by the cassette instead.

Loaded at every pytest start-up: PYTEST_DONT_REWRITE (see :mod:`pytest_llm.plugin`).
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import pytest

from ._settings import GUARD_MODES
from .transport._socket import guarded

if TYPE_CHECKING:
    from ._errors import ConfigError

__all__ = ["GUARD_MODES", "Guard", "guard_session", "where_now"]


class Guard:
    """Blocks, at the socket, what a test without a cassette must not reach.

    It works on name lookups and connections, not on HTTP transports, so mocks that
    never open a socket (respx, pytest-httpx, ``MockTransport``) keep working, and
    clients outside httpx (aiohttp, requests) are covered too.
    """

    def __init__(
        self,
        mode: str,
        hosts: Iterable[str] = (),
        where: str | None = "this test",
        on_block: Callable[[], None] | None = None,
    ) -> None:
        self.mode = mode
        self.extra_hosts = tuple(h.lower() for h in hosts)
        """Host patterns blocked besides every known LLM API's (the ini option llm_hosts)."""
        self._hosts: tuple[str, ...] | None = None
        self.where = where
        """Named in the message; ``None``: the running test, and nothing outside a test."""
        self.on_block = on_block

    @property
    def hosts(self) -> tuple[str, ...]:
        """Every host pattern blocked in ``llm-hosts`` mode: every provider's in
        :mod:`pytest_llm._providers` (loaded on the first host that is not loopback, not
        at pytest start-up) and :attr:`extra_hosts`."""
        if self._hosts is None:
            from ._providers import llm_hosts

            self._hosts = (*(h.lower() for h in llm_hosts()), *self.extra_hosts)
        return self._hosts

    def blocks(self, host: str) -> bool:
        from .transport._hosts import is_loopback

        if is_loopback(host):
            return False
        if self.mode == "all":
            return True
        host = host.lower().rstrip(".")
        return any(fnmatch.fnmatchcase(host, pat) for pat in self.hosts)

    def __call__(self, host: str, port: object) -> None:
        test = self.where if self.where is not None else where_now()
        if test is None or not self.blocks(host):
            return
        if self.on_block is not None:
            self.on_block()
        where = f"{host}:{port}" if port is not None else host
        what = "the network" if self.mode == "all" else "hosted LLM APIs"
        from ._errors import NetworkBlocked

        raise NetworkBlocked(
            f"pytest-llm blocked a connection to {where}: {test} has no cassette, and "
            f"llm_guard = {self.mode} keeps tests from reaching {what} unrecorded.\n"
            "Fix: mark the test with @pytest.mark.llm_cassette (then record it with "
            "--llm-record=once), or pass --llm-allow-network, or set llm_guard = off."
        )

    def __repr__(self) -> str:
        return f"Guard(mode={self.mode!r})"


def where_now() -> str | None:
    """``test <node id>`` of the test pytest is running now, or ``None`` between tests."""
    current = os.environ.get("PYTEST_CURRENT_TEST")
    return f"test {current.rsplit(' (', 1)[0]}" if current else None


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
        guard = Guard(mode, config.getini("llm_hosts"), where=None, on_block=on_block)
    # always set, None included: a session run inside another (pytester) has its own say
    stack.enter_context(guarded(guard))
    return stack


guard_error_key: pytest.StashKey[ConfigError] = pytest.StashKey()
"""An unusable ``llm_guard`` value: every test errors with it, as a fixture would."""
