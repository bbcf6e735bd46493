"""The socket guard: name lookups and connections checked while a user holds it.

Its users: the session's guard for tests without a cassette (:func:`guarded`, a check
of the host) and every active handler (:mod:`._patch`, which also sets the router: a
connection that did not go through a patched transport is blocked while it replays).
Apart from the HTTP patches so that a run where no test uses pytest-llm loads this
alone; the check itself (:mod:`._hosts`) loads with the first lookup it sees. Loaded at every pytest start-up: PYTEST_DONT_REWRITE (see :mod:`pytest_llm.plugin`).
"""

from __future__ import annotations

import socket
import sys
import threading
from collections.abc import Callable
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


class guarded:
    """``guard`` checks every name lookup and connection while inside (``None``: none,
    e.g. a cassette's test, where the cassette governs); the socket is patched meanwhile.

    A class, not a generator: every replayed test enters one (``guarded(None)``)."""

    __slots__ = ("guard", "previous")

    def __init__(self, guard: Callable[[str, Any], None] | None) -> None:
        self.guard = guard
        self.previous: Callable[[str, Any], None] | None = None

    def __enter__(self) -> None:
        guard = self.guard
        with state.lock:
            self.previous, state.host_guard = state.host_guard, guard
        if guard is not None:
            try:
                acquire()
            except BaseException:
                state.host_guard = self.previous
                raise

    def __exit__(self, *exc: object) -> None:
        try:
            if self.guard is not None:
                release()
        finally:
            state.host_guard = self.previous


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
    """``real``, called after ``check`` has seen its arguments: made once per ``real``
    and kept (every replayed test patches the socket and puts it back; a function made
    per test was three closures, each with its own ``__dict__`` for the mark)."""
    key = (real, check)
    checked = _wrappers.get(key)
    if checked is None:
        if len(_wrappers) >= _WRAPPERS_KEPT:
            _wrappers.clear()
        checked = _wrappers[key] = _make_checked(real, check)
    return checked


def _make_checked(real: Callable[..., Any], check: Callable[..., None]) -> Callable[..., Any]:
    def checked(*args: Any, **kwargs: Any) -> Any:
        check(*args, **kwargs)
        return real(*args, **kwargs)

    setattr(checked, MARK, real)
    return checked


_wrappers: dict[tuple[Callable[..., Any], Callable[..., None]], Callable[..., Any]] = {}
"""(original, check) -> its wrapper. Another tool's socket patch between tests (a new
original) gets a wrapper of its own; past this many the old ones are dropped."""
_WRAPPERS_KEPT = 16
