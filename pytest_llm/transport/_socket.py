"""The socket guard: name lookups and connections checked while a user holds it.

Its users: the session's guard for tests without a cassette (:func:`guarded`, a check
of the host) and every active handler (:mod:`._patch`, which also sets the router: a
connection that did not go through a patched transport is blocked while it replays).
Apart from the HTTP patches so that a run where no test uses pytest-llm loads this
alone; the check itself (:mod:`._hosts`) loads with the first lookup it sees. Loaded at every pytest start-up: PYTEST_DONT_REWRITE (see :mod:`pytest_llm.plugin`).
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ._common import MARK, forwarding, restore

if TYPE_CHECKING:
    from ._patch import Chain

__all__ = [
    "acquire",
    "guarded",
    "patch_socket",
    "release",
    "restore_all",
    "state",
]


class _State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        """Also the HTTP patches' (:mod:`._patch`): one lock for everything patched."""
        self.chain: Chain | None = None
        """The router, set by the first handler that opened a scope."""
        self.host_guard: Callable[[str, Any], None] | None = None
        """Checked on every name lookup and connection (tests without a cassette)."""
        self.users = 0
        self.saved: list[tuple[Any, str, Any]] = []


state = _State()


@contextlib.contextmanager
def guarded(guard: Callable[[str, Any], None] | None) -> Iterator[None]:
    """``guard`` checks every name lookup and connection while inside (``None``: none,
    e.g. a cassette's test, where the cassette governs); the socket is patched meanwhile."""
    with state.lock:
        previous, state.host_guard = state.host_guard, guard
    try:
        if guard is not None:
            acquire()
        try:
            yield
        finally:
            if guard is not None:
                release()
    finally:
        state.host_guard = previous


def acquire() -> None:
    with state.lock:
        state.users += 1
        patch_socket()


def release() -> None:
    with state.lock:
        state.users = max(0, state.users - 1)
        if state.users == 0:
            restore(state.saved)


def restore_all() -> None:
    """Put every original back and forget every user (the end of the last session):
    the HTTP transports' too, if :mod:`._patch` was loaded (else none was patched)."""
    patch = sys.modules.get(f"{__package__}._patch")
    with state.lock:
        if patch is not None:
            patch.unpatch_http()
        state.users = 0
        restore(state.saved)


def _connect_check(sock: socket.socket, address: Any, *args: Any, **kwargs: Any) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple):
        _lookup_check(address[0], address[1])


def _lookup_check(host: Any, port: Any, *args: Any, **kwargs: Any) -> None:
    if forwarding.get() or (state.host_guard is None and state.chain is None):
        return
    from ._hosts import check  # with the first lookup or connection that is checked

    check(state, host, port)


def patch_socket() -> None:
    """Patch the socket, unless it is: until the last user leaves or :func:`restore_all`."""
    if state.saved:
        return
    for owner, attr, check in (
        (socket.socket, "connect", _connect_check),
        (socket.socket, "connect_ex", _connect_check),
        (socket, "getaddrinfo", _lookup_check),
    ):
        current = getattr(owner, attr)
        real = getattr(current, MARK, current)
        setattr(owner, attr, _checked(real, check))
        state.saved.append((owner, attr, real))


def _checked(real: Callable[..., Any], check: Callable[..., None]) -> Callable[..., Any]:
    """``real``, called after ``check`` has seen its arguments."""

    def checked(*args: Any, **kwargs: Any) -> Any:
        check(*args, **kwargs)
        return real(*args, **kwargs)

    setattr(checked, MARK, real)
    return checked
