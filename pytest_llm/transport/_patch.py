"""Interception: patch the real transports of httpx and httpx2, and guard sockets.

The patches go on ``HTTPTransport.handle_request`` and
``AsyncHTTPTransport.handle_async_request`` of each library, so every client an SDK
builds for itself is covered with no change to application code. They are installed
on first use and stay: with no handler active they hand the request straight to the
real transport.

What does not go through those transports (the openai SDK's aiohttp backend,
``requests``, ``urllib``) meets the socket guard instead: while only replay is
allowed, a connection or name lookup for any host that is not loopback raises
:class:`NetworkBlocked` with a message that says why pytest-llm cannot replay it.
"""

from __future__ import annotations

import functools
import importlib
import ipaddress
import socket
import sys
import threading
from typing import Any

from .._errors import NetworkBlocked
from .._flow import router
from ._adapter import forwarding, handle_async, handle_sync

__all__ = ["install", "install_socket_guard", "installed_libraries", "is_loopback"]

_LIBRARIES = ("httpx", "httpx2")
_AIOHTTP = {
    # module holding AiohttpTransport -> the httpx flavour whose Response it returns
    "openai._vendor.httpx_aiohttp.transport": "httpx2",  # openai 3.x DefaultAioHttpClient
    "httpx_aiohttp.transport": "httpx",  # openai 1.x/2.x DefaultAioHttpClient
}
_lock = threading.Lock()
_installed: list[str] = []
_socket_done = False


def installed_libraries() -> list[str]:
    return list(_installed)


def install_socket_guard() -> None:
    """Only the socket guard: no HTTP library is imported or patched."""
    global _socket_done
    with _lock:
        if not _socket_done:
            _patch_socket()
            _socket_done = True


def install(*, eager: bool = True) -> None:
    """Patch httpx and httpx2 (importing them when ``eager``), and the socket guard.

    The aiohttp transports of the openai SDK are patched when their modules are already
    imported (the SDK imports them with itself); each activation looks again. Not eager,
    no HTTP library is imported: only what the process already loaded is patched.
    """
    global _socket_done
    if len(_installed) == len(_LIBRARIES) + len(_AIOHTTP) and _socket_done and _intact():
        return
    with _lock:
        _drop_removed()
        for name in _LIBRARIES:
            if name in _installed:
                continue
            m = sys.modules.get(name)
            if m is None and eager:
                try:
                    m = importlib.import_module(name)
                except ImportError:
                    continue
            if m is not None:
                _patch_sync(m.HTTPTransport, m, name)
                _patch_async(m.AsyncHTTPTransport, m, name)
                _installed.append(name)
        for mod_name, flavour in _AIOHTTP.items():
            mod = sys.modules.get(mod_name)
            lib = sys.modules.get(flavour)
            if mod_name in _installed or mod is None or lib is None:
                continue
            cls = getattr(mod, "AiohttpTransport", None)
            if cls is not None:
                _patch_async(cls, lib, f"{flavour}+aiohttp")
            _installed.append(mod_name)
        if not _socket_done:
            _patch_socket()
            _socket_done = True


def _intact() -> bool:
    """Whether our patches are still in place (another tool may have restored the originals)."""
    for name in _LIBRARIES:
        m = sys.modules.get(name)
        patched = m is None or hasattr(m.HTTPTransport.handle_request, "__pytest_llm_original__")
        if name in _installed and not patched:
            return False
    return True


def _drop_removed() -> None:
    """Forget libraries whose patch was undone (pytest-httpx's teardown, say), to redo it."""
    for name in _LIBRARIES:
        m = sys.modules.get(name)
        patched = m is None or hasattr(m.HTTPTransport.handle_request, "__pytest_llm_original__")
        if name in _installed and not patched:
            _installed.remove(name)


def _patch_sync(cls: Any, m: Any, name: str) -> None:
    # Never stack: if this module was imported afresh (pytester's in-process runs
    # drop modules between runs), wrap the true original again, not our old patch.
    orig = getattr(cls.handle_request, "__pytest_llm_original__", cls.handle_request)

    @functools.wraps(orig)
    def handle_request(self: Any, request: Any) -> Any:
        if not router.active or forwarding.get():
            return orig(self, request)
        return handle_sync(m, name, lambda r: orig(self, r), request)

    handle_request.__pytest_llm_original__ = orig  # type: ignore[attr-defined]
    cls.handle_request = handle_request


def _patch_async(cls: Any, m: Any, name: str) -> None:
    orig = getattr(cls.handle_async_request, "__pytest_llm_original__", cls.handle_async_request)

    @functools.wraps(orig)
    async def handle_async_request(self: Any, request: Any) -> Any:
        if not router.active or forwarding.get():
            return await orig(self, request)
        return await handle_async(m, name, lambda r: orig(self, r), request)

    handle_async_request.__pytest_llm_original__ = orig  # type: ignore[attr-defined]
    cls.handle_async_request = handle_async_request


# -- socket guard ---------------------------------------------------------------------

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", ""})


def is_loopback(host: Any) -> bool:
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
    if router.host_guard is not None and not forwarding.get():
        name = host.decode("ascii", "replace") if isinstance(host, bytes) else str(host or "")
        router.host_guard(name, port)
    if (
        router.active
        and router.network_allowed <= 0
        and not forwarding.get()
        and not is_loopback(host)
    ):
        where = f"{host}:{port}" if port is not None else str(host)
        raise NetworkBlocked(
            f"pytest-llm blocked a network connection to {where}: it did not go through an "
            "httpx or httpx2 transport (or the openai SDK's aiohttp backend), so pytest-llm can "
            "neither replay nor record it (for example requests, urllib or a bare aiohttp).\n"
            "Fix: use the SDK's default httpx client, or wrap your transport with "
            "pytest_llm.wrap_transport(...); to let it through anyway, pass --llm-allow-network."
        )


def _original(fn: Any) -> Any:
    return getattr(fn, "__pytest_llm_original__", fn)


_real_connect = _original(socket.socket.connect)
_real_connect_ex = _original(socket.socket.connect_ex)
_real_getaddrinfo = _original(socket.getaddrinfo)


def _inet(sock: socket.socket, address: Any) -> bool:
    return sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple)


def _connect(self: socket.socket, address: Any) -> None:
    if _inet(self, address):
        _guard(address[0], address[1])
    _real_connect(self, address)


def _connect_ex(self: socket.socket, address: Any) -> int:
    if _inet(self, address):
        _guard(address[0], address[1])
    result: int = _real_connect_ex(self, address)
    return result


def _getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
    _guard(host, port)
    return _real_getaddrinfo(host, port, *args, **kwargs)


def _patch_socket() -> None:
    _connect.__pytest_llm_original__ = _real_connect  # type: ignore[attr-defined]
    _connect_ex.__pytest_llm_original__ = _real_connect_ex  # type: ignore[attr-defined]
    _getaddrinfo.__pytest_llm_original__ = _real_getaddrinfo  # type: ignore[attr-defined]
    socket.socket.connect = _connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign,assignment]
    socket.getaddrinfo = _getaddrinfo
