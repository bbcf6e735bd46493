"""The guard's decision for tests without a cassette: which hosts they may not reach
(``llm_guard``: every known LLM API's, or every host that is not loopback), and the
error when one tries. Built with the first name lookup or connection the session's
socket guard sees (:mod:`pytest_llm._guard`), not at pytest start-up.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Callable, Iterable

from .transport._hosts import is_loopback

__all__ = ["Guard", "where_now"]


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
