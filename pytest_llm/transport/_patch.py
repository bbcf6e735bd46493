"""Interception: patch the real transports of httpx and httpx2, and guard sockets.

The patches go on ``HTTPTransport.handle_request`` and
``AsyncHTTPTransport.handle_async_request`` of each library (and the openai SDK's
aiohttp transports), so every client an SDK builds for itself is covered with no
change to application code. What does not go through those transports
(``requests``, ``urllib``, a bare aiohttp) meets the socket guard instead.

Like time-machine's, the patches are scoped: :func:`scope` patches when the first
user (an active handler, or the session's guard for the socket) arrives and puts
every original back when the last one leaves. :func:`restore_all` is the backstop
the plugin calls at ``pytest_unconfigure``. The router is passed in by whoever
opens a scope, so this module never imports it.

Loaded at every pytest start-up (the session's guard): PYTEST_DONT_REWRITE (see
:mod:`pytest_llm.plugin`).
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from ._common import HTTP_TARGETS, LIBRARIES, MARK, forwarding, restore

if TYPE_CHECKING:
    from .._exchange import Exchange, Outcome

__all__ = [
    "HTTP_TARGETS",
    "Chain",
    "guarded",
    "install",
    "installed_libraries",
    "is_loopback",
    "on_first_use",
    "patched",
    "restore_all",
    "scope",
]


class Chain(Protocol):
    """What the patches need from the router."""

    @property
    def active(self) -> bool: ...

    network_allowed: int

    def dispatch(self, exchange: Exchange) -> Outcome: ...


class _State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.chain: Chain | None = None
        self.host_guard: Callable[[str, Any], None] | None = None
        """Checked on every name lookup and connection (tests without a cassette)."""
        self.http_users = 0
        self.socket_users = 0
        self.http: dict[str, list[tuple[Any, str, Any]]] = {}
        """Patched module -> the (owner, attribute, original) it replaced."""
        self.socket: list[tuple[Any, str, Any]] = []


_state = _State()
on_first_use: list[Callable[[], None]] = []
"""Called when the first handler becomes active (the plugin arms its per-test hooks)."""


def patched() -> list[str]:
    """What is patched right now: module names of :data:`HTTP_TARGETS`, and ``socket``."""
    with _state.lock:
        return [*_state.http, *(["socket"] if _state.socket else [])]


def installed_libraries() -> list[str]:
    return [name for name in patched() if name in LIBRARIES]


@contextlib.contextmanager
def scope(chain: Chain | None, *, http: bool = True, eager: bool = True) -> Iterator[None]:
    """Patched while inside: the HTTP transports (``http``) and the socket guard.

    ``eager`` patches httpx and httpx2 also when imported while inside (without
    importing them); otherwise only what the process already loaded is patched. The aiohttp transports are patched when their modules
    are already imported (the SDK imports them with itself); each scope looks again.
    """
    acquire(chain, http=http, eager=eager)
    try:
        yield
    finally:
        release(http=http)


@contextlib.contextmanager
def guarded(guard: Callable[[str, Any], None] | None) -> Iterator[None]:
    """``guard`` checks every name lookup and connection while inside (``None``: none,
    e.g. a cassette's test, where the cassette governs); the socket is patched meanwhile."""
    with _state.lock:
        previous, _state.host_guard = _state.host_guard, guard
    try:
        if guard is None:
            yield
        else:
            with scope(None, http=False):
                yield
    finally:
        _state.host_guard = previous


def acquire(chain: Chain | None, *, http: bool = True, eager: bool = True) -> None:
    first = False
    with _state.lock:
        if chain is not None:
            _state.chain = chain
        if http:
            first = _state.http_users == 0
            _state.http_users += 1
            _patch_http(eager)
        _state.socket_users += 1
        if not _state.socket:
            _patch_socket()
    if first:
        for listener in list(on_first_use):
            listener()


def release(*, http: bool = True) -> None:
    with _state.lock:
        if http:
            _state.http_users = max(0, _state.http_users - 1)
            if _state.http_users == 0:
                _unpatch_http()
        _state.socket_users = max(0, _state.socket_users - 1)
        if _state.socket_users == 0:
            restore(_state.socket)


def restore_all() -> None:
    """Put every original back and forget every user (the end of the last session)."""
    with _state.lock:
        _state.http_users = _state.socket_users = 0
        _unpatch_http()
        restore(_state.socket)


def install(*, eager: bool = True) -> None:
    """Patch now, outside any scope: the patches stay until the last scope leaves or
    :func:`restore_all`. For tools and tests; handlers open a :func:`scope`."""
    with _state.lock:
        _patch_http(eager)
        if not _state.socket:
            _patch_socket()


def _patch_http(eager: bool) -> None:
    from ._http import patch_http  # the adapters load with the first handler, not before

    patch_http(_state.http, _chain, eager=eager, on_import=_imported_later)


def _chain() -> Chain | None:
    """The router the patches hand requests to (one function: the wrappers are cached)."""
    return _state.chain


def _imported_later() -> None:
    """httpx or httpx2 was just imported while the patches are wanted (the hook that
    calls this is taken out as they are lifted): patch it too."""
    with _state.lock:
        _patch_http(True)


def _unpatch_http() -> None:
    for saved in _state.http.values():
        restore(saved)
    _state.http.clear()
    http = sys.modules.get(f"{__package__}._http")  # not loaded: nothing was patched
    if http is not None:
        http.forget_imports()


# -- socket guard ---------------------------------------------------------------------


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
    if _state.host_guard is not None:
        name = host.decode("ascii", "replace") if isinstance(host, bytes) else str(host or "")
        _state.host_guard(name, port)
    router = _state.chain
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


def _patch_socket() -> None:
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
        _state.socket.append((owner, attr, real))
