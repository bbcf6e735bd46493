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
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import ipaddress
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from .._errors import NetworkBlocked
from .._exchange import Exchange, Outcome
from ._adapter import forwarding, handle_async, handle_sync

__all__ = [
    "HTTP_TARGETS",
    "Chain",
    "install",
    "installed_libraries",
    "is_loopback",
    "on_first_use",
    "patched",
    "restore_all",
    "scope",
]

_LIBRARIES = ("httpx", "httpx2")
_AIOHTTP = {
    # module holding AiohttpTransport -> the httpx flavour whose Response it returns
    "openai._vendor.httpx_aiohttp.transport": "httpx2",  # openai 3.x DefaultAioHttpClient
    "httpx_aiohttp.transport": "httpx",  # openai 1.x/2.x DefaultAioHttpClient
}
HTTP_TARGETS = (*_LIBRARIES, *_AIOHTTP)
"""Every module whose transports can be patched (see :func:`patched`)."""
_MARK = "__pytest_llm_original__"


class Chain(Protocol):
    """What the patches need from the router."""

    @property
    def active(self) -> bool: ...

    network_allowed: int
    host_guard: Callable[[str, Any], None] | None

    def dispatch(self, exchange: Exchange) -> Outcome: ...


class _State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.chain: Chain | None = None
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
    return [name for name in patched() if name in _LIBRARIES]


@contextlib.contextmanager
def scope(chain: Chain, *, http: bool = True, eager: bool = True) -> Iterator[None]:
    """Patched while inside: the HTTP transports (``http``) and the socket guard.

    ``eager`` imports httpx and httpx2 to patch them; otherwise only what the process
    already loaded is patched. The aiohttp transports are patched when their modules
    are already imported (the SDK imports them with itself); each scope looks again.
    """
    acquire(chain, http=http, eager=eager)
    try:
        yield
    finally:
        release(http=http)


def acquire(chain: Chain, *, http: bool = True, eager: bool = True) -> None:
    first = False
    with _state.lock:
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
            _restore(_state.socket)


def restore_all() -> None:
    """Put every original back and forget every user (the end of the last session)."""
    with _state.lock:
        _state.http_users = _state.socket_users = 0
        _unpatch_http()
        _restore(_state.socket)


def install(*, eager: bool = True) -> None:
    """Patch now, outside any scope: the patches stay until the last scope leaves or
    :func:`restore_all`. For tools and tests; handlers open a :func:`scope`."""
    with _state.lock:
        _patch_http(eager)
        if not _state.socket:
            _patch_socket()


def _restore(saved: list[tuple[Any, str, Any]]) -> None:
    for owner, attr, original in reversed(saved):
        if hasattr(getattr(owner, attr), _MARK):  # not if another tool patched over us
            setattr(owner, attr, original)
    saved.clear()


def _unpatch_http() -> None:
    for saved in _state.http.values():
        _restore(saved)
    _state.http.clear()


def _patch_http(eager: bool) -> None:
    for name in list(_state.http):
        # another tool restored the originals under us (pytest-httpx's teardown): redo
        if not all(hasattr(getattr(o, a), _MARK) for o, a, _ in _state.http[name]):
            _restore(_state.http.pop(name))
    for name in _LIBRARIES:
        if name in _state.http:
            continue
        m = sys.modules.get(name)
        if m is None and eager:
            try:
                m = importlib.import_module(name)
            except ImportError:
                continue
        if m is not None:
            _state.http[name] = [
                _patch(m.HTTPTransport, "handle_request", m, name),
                _patch(m.AsyncHTTPTransport, "handle_async_request", m, name),
            ]
    for mod_name, flavour in _AIOHTTP.items():
        mod = sys.modules.get(mod_name)
        lib = sys.modules.get(flavour)
        cls = getattr(mod, "AiohttpTransport", None)
        if mod_name in _state.http or cls is None or lib is None:
            continue
        _state.http[mod_name] = [_patch(cls, "handle_async_request", lib, f"{flavour}+aiohttp")]


def _patch(cls: Any, attr: str, m: Any, name: str) -> tuple[Any, str, Any]:
    # Never stack: if this module was imported afresh (pytester's in-process runs
    # drop modules between runs), wrap the true original again, not our old patch.
    current = getattr(cls, attr)
    orig = getattr(current, _MARK, current)
    chain = _state

    if attr == "handle_request":

        @functools.wraps(orig)
        def wrapper(self: Any, request: Any) -> Any:
            router = chain.chain
            if router is None or not router.active or forwarding.get():
                return orig(self, request)
            return handle_sync(router.dispatch, m, name, lambda r: orig(self, r), request)

    else:

        @functools.wraps(orig)
        async def wrapper(self: Any, request: Any) -> Any:
            router = chain.chain
            if router is None or not router.active or forwarding.get():
                return await orig(self, request)
            return await handle_async(router.dispatch, m, name, lambda r: orig(self, r), request)

    setattr(wrapper, _MARK, orig)
    setattr(cls, attr, wrapper)
    return cls, attr, orig


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
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _guard(host: Any, port: Any) -> None:
    router = _state.chain
    if router is None or forwarding.get():
        return
    if router.host_guard is not None:
        name = host.decode("ascii", "replace") if isinstance(host, bytes) else str(host or "")
        router.host_guard(name, port)
    if router.active and router.network_allowed <= 0 and not is_loopback(host):
        where = f"{host}:{port}" if port is not None else str(host)
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
    real_connect = getattr(socket.socket.connect, _MARK, socket.socket.connect)
    real_connect_ex = getattr(socket.socket.connect_ex, _MARK, socket.socket.connect_ex)
    real_getaddrinfo = getattr(socket.getaddrinfo, _MARK, socket.getaddrinfo)

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
        setattr(new, _MARK, real)
        setattr(owner, attr, new)
        _state.socket.append((owner, attr, real))
