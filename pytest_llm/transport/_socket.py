"""The socket guard: name lookups and connections checked while a user holds it.

Its users: the session's guard for tests without a cassette (:func:`guarded`, a check
of the host) and every active handler (:mod:`._patch`, which also sets the router: a
connection that did not go through a patched transport is blocked while it replays).
Apart from the HTTP patches so that a run where no test uses pytest-llm loads this
alone. Loaded at every pytest start-up: PYTEST_DONT_REWRITE (see :mod:`pytest_llm.plugin`).
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
    "is_loopback",
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


_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", ""})


def is_loopback(host: Any) -> bool:
    """Whether ``host`` names this machine (never guarded)."""
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host).strip("[]").lower()
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    import ipaddress  # on the first non-name host: not at pytest start-up

    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _guard(host: Any, port: Any) -> None:
    if forwarding.get():
        return
    if state.host_guard is not None:
        name = host.decode("ascii", "replace") if isinstance(host, bytes) else str(host or "")
        state.host_guard(name, port)
    router = state.chain
    if router is None:
        return
    if router.active and router.network_allowed <= 0 and not is_loopback(host):
        where = f"{host}:{port}" if port is not None else str(host)
        from .._errors import NetworkBlocked  # here: the guard loads at every start-up

        raise NetworkBlocked(
            f"pytest-llm blocked a network connection to {where}: it did not go through an "
            "httpx or httpx2 transport (or the openai SDK's aiohttp backend), so pytest-llm can "
            "neither replay nor record it (for example requests, urllib or a bare aiohttp).\n"
            "Fix: use the SDK's default httpx client, or wrap your transport with "
            "pytest_llm.wrap_transport(...); to let it through anyway, pass --llm-allow-network."
        )


def _inet(sock: socket.socket, address: Any) -> bool:
    return sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple)


def patch_socket() -> None:
    """Patch the socket, unless it is: until the last user leaves or :func:`restore_all`."""
    if state.saved:
        return
    real_connect = getattr(socket.socket.connect, MARK, socket.socket.connect)
    real_connect_ex = getattr(socket.socket.connect_ex, MARK, socket.socket.connect_ex)
    real_getaddrinfo = getattr(socket.getaddrinfo, MARK, socket.getaddrinfo)

    def connect(self: socket.socket, address: Any) -> None:
        if _inet(self, address):
            _guard(address[0], address[1])
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if _inet(self, address):
            _guard(address[0], address[1])
        result: int = real_connect_ex(self, address)
        return result

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        _guard(host, port)
        return real_getaddrinfo(host, port, *args, **kwargs)

    for owner, attr, new, real in (
        (socket.socket, "connect", connect, real_connect),
        (socket.socket, "connect_ex", connect_ex, real_connect_ex),
        (socket, "getaddrinfo", getaddrinfo, real_getaddrinfo),
    ):
        setattr(new, MARK, real)
        setattr(owner, attr, new)
        state.saved.append((owner, attr, real))
