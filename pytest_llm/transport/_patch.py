"""Interception: patch the real transports of httpx and httpx2, and guard sockets.

The patches go on ``HTTPTransport.handle_request`` and
``AsyncHTTPTransport.handle_async_request`` of each library (and the openai SDK's
aiohttp transports), so every client an SDK builds for itself is covered with no
change to application code. What does not go through those transports
(``requests``, ``urllib``, a bare aiohttp) meets the socket guard instead.

Like time-machine's, the patches are scoped: :func:`scope` patches when the first
user (an active handler) arrives and puts every original back when the last one
leaves. :func:`restore_all` is the backstop the plugin calls at ``pytest_unconfigure``.
The router is passed in by whoever opens a scope, so this module never imports it.
The socket guard is :mod:`._socket` (the session's guard loads it at every start-up,
this module only with the first handler).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from . import _socket
from ._common import HTTP_TARGETS, LIBRARIES, MARK, on_first_use, restore
from ._hosts import is_loopback
from ._socket import guarded, restore_all

if TYPE_CHECKING:
    from .._exchange import Exchange, Outcome

__all__ = [
    "HTTP_TARGETS",
    "Chain",
    "guarded",
    "hand_over",
    "holding",
    "install",
    "installed_libraries",
    "is_loopback",
    "on_first_use",
    "patched",
    "restore_all",
    "scope",
    "unpatch_http",
]


class Chain(Protocol):
    """What the patches need from the router."""

    @property
    def active(self) -> bool: ...

    network_allowed: int

    def dispatch(self, exchange: Exchange) -> Outcome: ...


_lock = _socket.state.lock
_users = 0
_held = False
"""The HTTP patches stay on when the last user leaves: the next test of the same module
is a cassette's too and takes them over (:func:`hand_over`)."""
_kept: tuple[Any, ...] | None = None
"""Set as the last user leaves with the patches held: the modules :func:`patch_http`
looked for when it last ran (the next user skips it if nothing changed)."""
_seen: tuple[Any, ...] | None = None
_http: dict[str, list[tuple[Any, str, Any]]] = {}
"""Patched module -> the (owner, attribute, original) it replaced."""


def patched() -> list[str]:
    """What is patched right now: module names of :data:`HTTP_TARGETS`, and ``socket``."""
    with _lock:
        return [*_http, *(["socket"] if _socket.state.saved else [])]


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


def acquire(chain: Chain | None, *, http: bool = True, eager: bool = True) -> None:
    global _users
    first = False
    with _lock:
        if chain is not None:
            _socket.state.chain = chain
        if http:
            first = _users == 0
            _users += 1
            if not _taken_over():
                _patch_http(eager)
        _socket.acquire()
    if first:
        for listener in list(on_first_use):
            listener()


def release(*, http: bool = True) -> None:
    global _users, _kept
    with _lock:
        if http:
            _users = max(0, _users - 1)
            if _users == 0:
                if _held:  # the next test takes them over
                    _kept = _seen
                else:
                    unpatch_http()
        _socket.release()


def _taken_over() -> bool:
    """Whether the patches a hand-over kept are all still in place, with the same
    modules loaded as when they were made: then patching again would change nothing."""
    global _kept
    kept, _kept = _kept, None
    if kept is None or tuple(map(sys.modules.get, _watched)) != kept:
        return False
    for saved in _http.values():
        for owner, attr, _ in saved:
            if not hasattr(getattr(owner, attr), MARK):
                return False  # another tool put something else there: patch again
    return True


def hand_over(held: bool) -> None:
    """Whether the HTTP patches stay on when their last user leaves (the plugin says so
    before each test's teardown: only when the next test is one whose first fixture is
    its cassette, in the same module or class, so between the two only pytest's and
    plugins' hooks run, through the patches' pass-through while no handler is active).
    ``False`` lifts what a hand-over left on, if nobody took it."""
    global _held
    with _lock:
        was, _held = _held, held
        if was and not held:
            if _users == 0:
                unpatch_http()
            else:
                _lift_sdk()


def holding() -> bool:
    """Whether a hand-over is on: the virtual clock's SDK stand-ins then stay too,
    dormant, for the next test's clock (:mod:`pytest_llm._sdk`)."""
    return _held


def _lift_sdk() -> None:
    """The SDK stand-ins a hand-over left dormant, lifted with it (loaded: else none)."""
    sdk = sys.modules.get("pytest_llm._sdk")
    if sdk is not None:
        sdk.lift()


def install(*, eager: bool = True) -> None:
    """Patch now, outside any scope: the patches stay until the last scope leaves or
    :func:`restore_all`. For tools and tests; handlers open a :func:`scope`."""
    with _lock:
        _patch_http(eager)
        _socket.patch_socket()


def _patch_http(eager: bool) -> None:
    global _patch_http_now, _watched, _seen
    patch = _patch_http_now
    if patch is None:  # the adapters load with the first handler, not before (and a
        # relative import in a function asks the module's spec for its parent each time)
        from ._http import WATCHED, patch_http

        patch = _patch_http_now = patch_http
        _watched = WATCHED
    patch(_http, _chain, eager=eager, on_import=_imported_later)
    # what it looked for, only where a hand-over may follow (else a cost per activation)
    _seen = tuple(map(sys.modules.get, _watched)) if _held else None


_watched: tuple[str, ...] = ()


_patch_http_now: Callable[..., None] | None = None


def _chain() -> Chain | None:
    """The router the patches hand requests to (one function: the wrappers are cached)."""
    return _socket.state.chain


def _imported_later() -> None:
    """httpx or httpx2 was just imported while the patches are wanted (the hook that
    calls this is taken out as they are lifted): patch it too."""
    with _lock:
        _patch_http(True)


def unpatch_http() -> None:
    """Put the transports' originals back and forget their users (also
    :func:`restore_all`'s part)."""
    global _users, _held, _kept
    with _lock:
        _users = 0
        _held = False
        _kept = None
        for saved in _http.values():
            restore(saved)
        _http.clear()
        http = sys.modules.get(f"{__package__}._http")  # not loaded: nothing was patched
        if http is not None:
            http.forget_imports()
        _lift_sdk()
